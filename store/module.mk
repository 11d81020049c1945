# store/: no objects yet (see the issues).
