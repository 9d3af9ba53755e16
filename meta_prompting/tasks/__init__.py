"""Many tasks at once: a tasks file read whole, its rows planned from the store and made
on one pool (--tasks FILE)."""
