# net/: no objects yet (see the issues).
