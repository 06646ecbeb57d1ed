"""``python -m experiments.steingan_images --config=configs/steingan_cifar10.py --workdir=DIR``."""

from stein_jax.train import run_main

from experiments.steingan_images import SteinGANImages

if __name__ == "__main__":
  run_main(SteinGANImages)
