// Small helper programs for the local test cluster (see ../README.md): the pause
// image's binary, a loopback-only CNI plugin, an HTTP server for the image with no
// shell and no tar, an OCI image-layout builder and a certificate generator.
// Standard library only; a separate module so the main module never builds them.
module github.com/windmilleng/pets/scripts/cluster/tools

go 1.24.0
