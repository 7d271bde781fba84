"""The masked-attention decoder's initialisation, as Mask2Former's (and so the official TAPPS's).

Mask2Former's decoder layers (self-attention, cross-attention, FFN) reset every weight matrix with
``xavier_uniform_``; mmdet's ``Mask2FormerHead.init_weights`` uses ``xavier_normal_`` on the same
parameters. Both have the same variance, but the normal one is unbounded; every run that starts the decoder
from scratch (the ImageNet-init rows, the toy) depends on it.
"""
from __future__ import annotations

from torch import nn

DECODER_INITS = {'xavier_uniform': nn.init.xavier_uniform_, 'xavier_normal': nn.init.xavier_normal_}


class DecoderInitMixin:
    """Re-initialises the transformer decoder's weight matrices after mmdet's ``init_weights``.

    Args (keyword, consumed here):
        decoder_init: ``'xavier_uniform'`` (Mask2Former's, the default) or ``'xavier_normal'`` (mmdet's).
    """

    def __init__(self, *args, decoder_init: str = 'xavier_uniform', **kwargs) -> None:
        if decoder_init not in DECODER_INITS:
            raise ValueError(f'{type(self).__name__}: decoder_init must be one of {sorted(DECODER_INITS)}, '
                             f'got {decoder_init!r}')
        super().__init__(*args, **kwargs)
        self.decoder_init = decoder_init

    def init_weights(self) -> None:
        super().init_weights()
        init = DECODER_INITS[self.decoder_init]
        for p in self.transformer_decoder.parameters():
            if p.dim() > 1:
                init(p)
