"""The V-JEPA 2-AC (DROID) frame crop's bounds, ``preprocessing.ACFrameTransform``'s defaults.

Frames wider than ``AC_MAX_ASPECT`` : 1 or taller than 1 : ``AC_MIN_ASPECT`` are centre-cropped to it before the
square resize. A tiled frame of n square views (n : 1) stays whole with aspect = n. A module without imports, so
that parameter schemas (the encoder node's ``ac_max_aspect``) load neither torch nor scipy.
"""

AC_MAX_ASPECT = 1.35
AC_MIN_ASPECT = 0.75
