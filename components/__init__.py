"""Upgrade shim, not part of the library: the program's modules moved to `ml_platform/` (the
package is `ml_platform.components`). See components/image_check.py for the one reason this
directory remains.
"""
