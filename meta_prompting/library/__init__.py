"""The library: goal maps in layers, the parts bin, and the state of each part."""
