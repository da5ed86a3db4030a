"""Reading networks written by other StyleGAN implementations.

`nvlabs` reads the official NVIDIA `network-snapshot-*.pkl` files of stylegan2-ada-pytorch and
stylegan3 without executing anything stored in them, and rebuilds the networks as our modules:
`read_snapshot(path)`, `load_network(path, which="G_ema")`, `convert(path, outdir, which=...)`.
"""
