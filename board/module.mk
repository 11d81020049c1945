# board/: device identity and the base every module uses (errors, cleanup).
obj-y += err.o fs.o identity.o title.o
