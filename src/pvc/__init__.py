"""PVC: a hyperconverged virtualization cluster."""

__version__ = "0.1.0"
