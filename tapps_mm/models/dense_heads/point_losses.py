"""Point-sampled mask losses of many masks at once (the part branches' losses of all decoder layers), with no
value asked back from the device: mmdet's point selection from draws made beforehand, target masks sampled from
a map of codes instead of being materialised, and the losses reduced per decoder layer.

- :func:`draw_points`: the ``torch.rand`` calls of mmdet's ``get_uncertain_point_coords_with_randomness`` for
  ``n`` masks, in its order (made in each decoder layer's turn, so that the random stream is the one of a
  layer-by-layer loss);
- :func:`uncertain_points`: that function's selection from those draws (the candidates of largest ``-|logit|``,
  then the random points);
- :func:`sample_code_masks`: ``point_sample`` of the binary masks ``code_map[img] == code`` at the points, computed
  from the four neighbouring codes of each point with ``grid_sample``'s bilinear weights (``align_corners=False``,
  zeros outside), without an ``[n, H, W]`` mask per row;
- :func:`layer_mask_losses`: the configured BCE and dice losses of all rows at once, summed per decoder layer and
  divided as mmdet's ``'mean'`` reduction with ``avg_factor`` divides;
- :func:`upload`: numbers computed on the host (indices, counts) to the device without making the host wait
  (also the matching's and the fusion heads').
"""
from __future__ import annotations

import numpy as np
import torch
from mmcv.ops import point_sample
from torch import Tensor


def upload(values, device: torch.device, dtype=torch.long) -> Tensor:
    """Host values (numbers computed on the host: indices, counts) as a tensor on ``device``; on a GPU through
    pinned memory and a non-blocking copy, so that the host does not wait for the device's queue."""
    t = torch.from_numpy(np.asarray(values, dtype=np.dtype(str(dtype).removeprefix('torch.'))))
    if torch.device(device).type == 'cuda':
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def draw_points(num_masks: int, num_points: int, oversample_ratio: float, importance_sample_ratio: float,
                device: torch.device) -> tuple[Tensor, Tensor | None]:
    """The draws of mmdet's ``get_uncertain_point_coords_with_randomness`` for ``num_masks`` masks, in its order:
    the candidates ``[n, int(num_points * oversample_ratio), 2]``, then the random points ``[n, num_points -
    int(importance_sample_ratio * num_points), 2]`` (``None`` when there are none)."""
    candidates = torch.rand(num_masks, int(num_points * oversample_ratio), 2, device=device)
    num_random = num_points - int(importance_sample_ratio * num_points)
    return candidates, (torch.rand(num_masks, num_random, 2, device=device) if num_random > 0 else None)


@torch.no_grad()
def uncertain_points(mask_logits: Tensor, candidates: Tensor, random: Tensor | None, num_points: int,
                     importance_sample_ratio: float) -> Tensor:
    """mmdet's uncertainty-based points of masks ``[n, 1, h, w]`` from given draws: the ``int(importance_sample_ratio
    * num_points)`` candidates of largest ``-|logit|``, then the random points; ``[n, num_points, 2]``."""
    uncertainty = -point_sample(mask_logits, candidates).abs()
    idx = torch.topk(uncertainty[:, 0], k=int(importance_sample_ratio * num_points), dim=1)[1]
    coords = candidates.gather(1, idx.unsqueeze(-1).expand(-1, -1, 2))
    return coords if random is None else torch.cat((coords, random), dim=1)


@torch.no_grad()
def sample_code_masks(code_maps: Tensor, imgs: Tensor, codes: Tensor, coords: Tensor) -> Tensor:
    """``point_sample`` of the binary masks ``code_maps[imgs[k]] == codes[k]`` at ``coords[k]`` ``[n, N, 2]``:
    ``[n, N]``, bilinear as ``grid_sample`` with ``align_corners=False`` and zeros outside (its CPU kernel's
    arithmetic: the same values where the map's sizes are powers of two, else within the last bit, which its
    fused multiply-adds round), from the four codes around each point."""
    height, width = code_maps.shape[-2:]
    grid = coords * 2.0 - 1.0  # mmcv's point_sample
    x = (grid[..., 0] + 1) * (width / 2) - 0.5
    y = (grid[..., 1] + 1) * (height / 2) - 0.5
    x_w, y_n = x.floor(), y.floor()
    w, n = x - x_w, y - y_n
    e, s = 1 - w, 1 - n
    ix, iy = x_w.long(), y_n.long()
    flat = code_maps.reshape(-1)
    base = imgs[:, None] * (height * width)
    codes = codes.to(code_maps.dtype)[:, None]

    def on(dy: int, dx: int) -> Tensor:
        cy, cx = iy + dy, ix + dx
        inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
        return ((flat[base + cy.clamp(0, height - 1) * width + cx.clamp(0, width - 1)] == codes) & inside).to(x.dtype)
    return on(0, 0) * (s * e) + on(0, 1) * (s * w) + on(1, 0) * (n * e) + on(1, 1) * (n * w)


def layer_mask_losses(loss_mask, loss_dice, point_logits: Tensor, point_targets: Tensor, layers: Tensor,
                      num_layers: int, mask_avg: Tensor, dice_avg: Tensor) -> Tensor:
    """[2, num_layers]: per decoder layer, the BCE (``loss_mask``) and dice (``loss_dice``) losses of the rows of
    ``point_logits`` / ``point_targets`` ``[R, N]`` whose layer is ``layers`` ``[R]``, each as mmdet's ``'mean'``
    reduction with ``avg_factor`` makes it: the sum of the layer's element losses / (``mask_avg`` / ``dice_avg``
    ``[num_layers]`` + eps). One call of each loss for all layers (``reduction_override='none'``)."""
    bce = loss_mask(point_logits, point_targets, reduction_override='none')
    dice = loss_dice(point_logits, point_targets, reduction_override='none')
    sums = point_logits.new_zeros(2, num_layers).index_add(1, layers, torch.stack([bce.sum(1), dice]))
    return sums / (torch.stack([mask_avg, dice_avg]) + torch.finfo(torch.float32).eps)


def check_mean_losses(owner: str, **losses) -> None:
    """The losses :func:`layer_mask_losses` reduces must be mmdet losses with a ``'mean'`` reduction."""
    for name, loss in losses.items():
        if getattr(loss, 'reduction', None) != 'mean':
            raise ValueError(f'{owner}: {name} must reduce by mean with an avg_factor (its losses of all decoder '
                             f'layers are computed at once and reduced per layer), got {loss!r}')
