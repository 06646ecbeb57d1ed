r"""SteinGAN with the autoencoder energy eq. (24) on LSUN bedrooms, 64 x 64 (Liu & Wang 2017, sec. 5.2, Fig. 4).

    python -m experiments.steingan_images --config=configs/steingan_lsun.py --workdir=/tmp/steingan/lsun

Needs LSUN bedroom: TFDS ("lsun/bedroom") or ``<data_dir>/lsun/`` image folders (docs/data.md); without either the
run stops with the data registry's "not found" message. Images are center-cropped and resized to 64 x 64. No
labels: the unconditional energy eq. (24); energy width 32 (about 2.2M parameters; the paper: about 2.5M).
The keys and groups are those of configs/steingan_cifar10.py (``--config.model.energy_width=64``, ...).
"""

from configs import steingan_cifar10


def get_config():
  config = steingan_cifar10.get_config()
  config.update(dataset="lsun", image_size=64, joint_model=False)
  config.model.energy_width = 32
  config.eval.update(num_accuracy_samples=0, grid_columns=8)  # no labels: no train-on-generated accuracy
  return config
