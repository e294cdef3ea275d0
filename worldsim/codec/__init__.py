"""The frame codec: continuous latents for the dynamics model, and its training.

>>> from worldsim.codec import CodecConfig, FrameCodec
>>> FrameCodec(CodecConfig()).latent_shape
(8, 8, 8)
"""

from worldsim.codec.autoencoder import CodecConfig, FrameCodec, psnr, time_codec, to_model, to_uint8
from worldsim.codec.train import CodecTrainConfig, train_codec

__all__ = ["CodecConfig", "CodecTrainConfig", "FrameCodec", "psnr", "time_codec", "to_model", "to_uint8", "train_codec"]
