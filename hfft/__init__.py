"""hfft: fine-tune Hugging Face vision and text classifiers from YAML recipes."""

__version__ = "0.1.0"
