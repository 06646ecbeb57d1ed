r"""SteinGAN with the autoencoder energy eq. (24) on CelebA, 64 x 64 (Liu & Wang 2017, sec. 5.2, Fig. 3).

    python -m experiments.steingan_images --config=configs/steingan_celeba.py --workdir=/tmp/steingan/celeba

Needs CelebA: TFDS ("celeb_a", downloaded by TFDS when online) or ``<data_dir>/celeb_a/`` (docs/data.md); without
either the run stops with the data registry's "not found" message naming what to put where. Images are
center-cropped to 140 px and resized to 64 x 64. No labels: the unconditional energy eq. (24) and generator.
Energy width 32 gives about 2.2M parameters (the paper: about 2.5M); the DCGAN generator has width 64.
The keys and groups are those of configs/steingan_cifar10.py (``--config.model.energy_width=64``, ...).
"""

from configs import steingan_cifar10


def get_config():
  config = steingan_cifar10.get_config()
  config.update(dataset="celeb_a", image_size=64, joint_model=False)
  config.model.energy_width = 32
  config.eval.update(num_accuracy_samples=0, grid_columns=8)  # no labels: no train-on-generated accuracy
  return config
