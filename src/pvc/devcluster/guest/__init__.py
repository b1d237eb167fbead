"""The tiny real guest: a Debian kernel and a busybox initramfs (`image`) and its domain XML (`xml`)."""
