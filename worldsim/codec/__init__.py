"""The frame codec: continuous latents for the dynamics model (its trainer is :mod:`worldsim.training.codec`).

>>> from worldsim.codec import CodecConfig, FrameCodec
>>> FrameCodec(CodecConfig()).latent_shape
(8, 8, 8)
"""

from worldsim.codec.autoencoder import CodecConfig, FrameCodec, psnr, time_codec, to_model, to_uint8

__all__ = ["CodecConfig", "FrameCodec", "psnr", "time_codec", "to_model", "to_uint8"]
