# runtime/: no objects yet (see the issues).
