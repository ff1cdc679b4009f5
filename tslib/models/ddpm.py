"""Class-conditional diffusion (task ``generate``): diffusers' ``UNet2DModel`` with class embeddings, trained on
the v-prediction loss of a ``DDPMScheduler``, sampled with DDIM or DPM-Solver++ and classifier-free guidance.

The class embedding has one extra row, the *null class*: training replaces a label by it with probability
``cond_drop``, so one network predicts with and without the class, and sampling mixes the two,
``v = v_null + guidance * (v_class - v_null)`` (Ho & Salimans, 2022): ``guidance`` 1 is the plain
conditional model, 0 the unconditional one, larger values trade variety for recognisability. An exponential
moving average of the weights (``ema``, a ``torch.optim.swa_utils.AveragedModel`` updated after every optimizer
step) is what samples; it lives in the state dict, so checkpoints, exact resume and ``model.pt`` carry it.
Images outside the model are in [0, 1]; the networks see [-1, 1]. Sizes that the UNet cannot halve
``levels - 1`` times are padded and cropped back, as the other generators do.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from .generator import Generator
from .registry import register_model
from .shapes import center_crop, pad_to, round_up

SAMPLERS = ("ddim", "dpm")
#: How the per-timestep losses are weighted: ``uniform`` (plain v-prediction MSE) or ``min_snr`` (Hang et al.,
#: 2023: timesteps whose signal-to-noise ratio is above ``snr_gamma`` weigh less, so the easy, nearly clean steps
#: stop dominating the gradient).
LOSS_WEIGHTINGS = ("uniform", "min_snr")
#: The options a sampling call may set (``generate --steps/--guidance/--sampler``).
SAMPLER_OPTIONS = ("steps", "guidance", "sampler")


def _groups(channels: int) -> int:
    """GroupNorm groups for the narrowest block: at most 32 and at least 4 channels each where the width allows.
    One channel per group would be instance norm, which removes each channel's mean: the colour of a scene."""
    return next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0 and (channels // g >= 4 or g == 1))


def _ema_average(decay: float):
    """EMA with diffusers' warm-up, ``min(decay, (1 + n) / (10 + n))``: early on the average follows the weights
    closely, so a short CPU run does not sample from weights that are mostly its random start.

    A ``multi_avg_fn``: ``averaged += (current - averaged) * (1 - d)`` over all tensors of one device and dtype at
    once (``torch._foreach_*``: three kernels per step instead of three per tensor), with ``d`` kept on the device
    (no host sync per step)."""

    @torch.no_grad()
    def avg(averaged: list[Tensor], current: list[Tensor], n: Tensor) -> None:
        if not averaged[0].is_floating_point():  # integer buffers (none in the UNet today) follow the model
            for a, c in zip(averaged, current):
                a.copy_(c)
            return
        d = torch.clamp((1 + n.float()) / (10 + n.float()), max=decay).to(averaged[0].dtype)
        step = torch._foreach_sub(current, averaged)
        torch._foreach_mul_(step, 1 - d)
        torch._foreach_add_(averaged, step)

    return avg


class DDPM(Generator):
    """v-prediction UNet + EMA copy; ``loss`` for training, ``decode(noise, labels)`` runs the sampler."""

    variational = False
    sampler_options = SAMPLER_OPTIONS
    #: Under torchrun only the trained network is wrapped in DistributedDataParallel (never the EMA copy).
    parallel_networks = ("unet",)

    def __init__(self, num_classes: int, img_size: int = 64, width: int = 32, levels: int | None = None,
                 layers: int = 1, attention: bool = True, timesteps: int = 1000, cond_drop: float = 0.1,
                 ema_decay: float = 0.999, steps: int = 50, guidance: float = 2.0, sampler: str = "ddim",
                 loss_weighting: str = "uniform", snr_gamma: float = 5.0, patch: int = 1) -> None:
        super().__init__()
        from diffusers import DDPMScheduler, UNet2DModel  # import on first build: the registry stays light

        if patch not in (1, 2, 4) or img_size < 8 * patch:
            raise ValueError(f"patch must be 1, 2 or 4 with img_size >= 8 x patch; got patch={patch}, "
                             f"img_size={img_size}")
        levels = levels or (3 if img_size // patch <= 32 else 4)
        if num_classes < 1 or img_size < 8 or width < 1 or not 2 <= levels <= 5 or layers < 1:
            raise ValueError(f"bad ddpm sizes: num_classes={num_classes} (>= 1), img_size={img_size} (>= 8), "
                             f"width={width}, levels={levels} (2..5), layers={layers}")
        if not 0 <= cond_drop < 1 or not 0 <= ema_decay < 1 or timesteps < 2:
            raise ValueError(f"need 0 <= cond_drop < 1, 0 <= ema_decay < 1, timesteps >= 2; got {cond_drop}, "
                             f"{ema_decay}, {timesteps}")
        if loss_weighting not in LOSS_WEIGHTINGS or snr_gamma <= 0:
            raise ValueError(f"loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)} and snr_gamma > 0; got "
                             f"{loss_weighting!r}, {snr_gamma}")
        self.loss_weighting, self.snr_gamma = loss_weighting, float(snr_gamma)
        self.img_size, self.num_classes, self.null_class = int(img_size), int(num_classes), int(num_classes)
        self.cond_drop, self.timesteps = float(cond_drop), int(timesteps)
        self.defaults = {"steps": int(steps), "guidance": float(guidance), "sampler": sampler}
        self.check_options(self.defaults)
        # ``patch`` x ``patch`` pixels folded into channels (space-to-depth, as "simple diffusion" does, Hoogeboom
        # et al. 2023): the UNet runs at img_size / patch, so a 64 px model costs what a 32 px one does.
        self.patch = int(patch)
        self.size = round_up(img_size, patch * 2 ** (levels - 1))
        chans = tuple(width * m for m in (1, 2, 2, 4, 4)[:levels])
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if attention:  # self-attention at the coarsest level only: global layout for little compute
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.unet = UNet2DModel(sample_size=self.size // patch, in_channels=3 * patch**2, out_channels=3 * patch**2,
                                block_out_channels=chans,
                                layers_per_block=layers, down_block_types=tuple(down), up_block_types=tuple(up),
                                norm_num_groups=_groups(width), attention_head_dim=min(8, chans[-1]),
                                num_class_embeds=num_classes + 1)
        # Cosine schedule: at 32-64 px the linear one destroys the image too early (Nichol & Dhariwal, 2021).
        # Its last steps carry (almost) no signal, where predicting the noise leaves x_0 = (x_t - ...) / ~0
        # undetermined and the scene's colours to chance (measured: samples ignored the class); predicting
        # v = sqrt(a) eps - sqrt(1 - a) x_0 is well conditioned at every step (Salimans & Ho, 2022).
        self.scheduler = DDPMScheduler(num_train_timesteps=timesteps, beta_schedule="squaredcos_cap_v2",
                                       prediction_type="v_prediction")
        self.ema = AveragedModel(self.unet, multi_avg_fn=_ema_average(ema_decay), use_buffers=True)
        self.ema.requires_grad_(False)  # updated by copying, never by an optimizer

    @property
    def conditional(self) -> bool:
        return True

    def train(self, mode: bool = True) -> DDPM:
        super().train(mode)
        self.ema.train(False)  # the average is only ever used for inference
        return self

    # -- training --------------------------------------------------------------------------------------------
    def _to_net(self, images: Tensor) -> Tensor:
        if images.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"expected {self.img_size}x{self.img_size} images, got {tuple(images.shape[-2:])}")
        return pad_to(images * 2 - 1, self.size, self.size)

    def loss(self, images: Tensor, labels: Tensor | None, generator: torch.Generator | None = None,
             net: nn.Module | None = None) -> Tensor:
        """v-prediction MSE at uniformly drawn timesteps; labels dropped to the null class with probability
        ``cond_drop`` (training) so the same network learns the unconditional prediction guidance needs.
        ``generator`` fixes every draw (validation); otherwise the global RNG, which the engine seeds/restores."""
        x0 = self._to_net(images)
        n, device = len(x0), x0.device

        def draw(fn, *args, **kw):  # draws on the CPU from ``generator`` (a CPU generator), then moves
            return fn(*args, generator=generator, **kw).to(device) if generator is not None \
                else fn(*args, device=device, **kw)

        labels = self._labels(labels, n, device)
        if self.training and self.cond_drop > 0:
            labels = torch.where(draw(torch.rand, n) < self.cond_drop, self.null_class, labels)
        noise = draw(torch.randn, x0.shape)
        t = draw(torch.randint, 0, self.timesteps, (n,))
        noisy = self.scheduler.add_noise(x0, noise, t)
        pred = self._predict(net or self.unet, noisy, t, labels)
        per_image = (pred.float() - self.scheduler.get_velocity(x0, noise, t).float()).pow(2).flatten(1).mean(1)
        return (per_image * self.loss_weights(t)).mean()

    def _predict(self, net: nn.Module, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        """The network's v for images ``x`` (pixel space: a patched network sees them folded into channels)."""
        if self.patch == 1:
            return net(x, t, class_labels=labels).sample
        return F.pixel_shuffle(net(F.pixel_unshuffle(x, self.patch), t, class_labels=labels).sample, self.patch)

    def loss_weights(self, t: Tensor) -> Tensor:
        """Per-timestep weight of the v-prediction loss: 1 (uniform), or min(SNR, gamma) / (SNR + 1), min-SNR-gamma
        for v-prediction (Hang et al., 2023), SNR = alpha_bar / (1 - alpha_bar)."""
        if self.loss_weighting == "uniform":
            return torch.ones(len(t), device=t.device)
        alpha_bar = self.scheduler.alphas_cumprod.to(t.device)[t].float()
        snr = alpha_bar / (1 - alpha_bar)
        return snr.clamp(max=self.snr_gamma) / (snr + 1)

    @torch.no_grad()
    def update_ema(self) -> None:
        self.ema.update_parameters(self.unet)

    def _labels(self, labels: Tensor | None, n: int, device: torch.device) -> Tensor:
        if labels is None:
            return torch.full((n,), self.null_class, device=device, dtype=torch.long)
        labels = labels.to(device).long()
        if len(labels) != n or (labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes)):
            raise ValueError(f"labels must be {n} class indices in 0..{self.num_classes - 1}")
        return labels

    # -- sampling --------------------------------------------------------------------------------------------
    def check_options(self, options: dict) -> dict:
        """:meth:`Generator.check_options`, then the options' ranges."""
        opts = super().check_options(options)
        if "steps" in opts and not 1 <= int(opts["steps"]) <= self.timesteps:
            raise ValueError(f"steps must be 1..{self.timesteps}, got {opts['steps']}")
        if "guidance" in opts and not 0 <= float(opts["guidance"]) <= 50:
            raise ValueError(f"guidance must be 0..50, got {opts['guidance']}")
        if "sampler" in opts and opts["sampler"] not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {opts['sampler']!r}")
        return opts

    def make_sampler(self, sampler: str):
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

        if sampler == "dpm":
            with warnings.catch_warnings():  # diffusers' numpy-2 copy= notice, about its own code
                warnings.simplefilter("ignore", DeprecationWarning)
                return DPMSolverMultistepScheduler.from_config(self.scheduler.config, algorithm_type="dpmsolver++")
        # "trailing" spacing reaches t = T - 1, so few-step DDIM starts from pure noise (Lin et al., 2024)
        return DDIMScheduler.from_config(self.scheduler.config, timestep_spacing="trailing", clip_sample=True)

    def prior(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """The starting noise x_T (``temperature`` scales it)."""
        device = next(self.parameters()).device
        return temperature * torch.randn(n, 3, self.size, self.size, generator=generator).to(device)

    def _denoise(self, z: Tensor, labels: Tensor | None, opts: dict, progress: bool = False):
        """Yield x_t after every step of the reverse process from noise ``z`` (EMA weights, [-1, 1], padded)."""
        opts = {**self.defaults, **{k: v for k, v in opts.items() if v is not None}}
        self.check_options(opts)
        sched = self.make_sampler(opts["sampler"])
        sched.set_timesteps(int(opts["steps"]), device=z.device)
        w, n = float(opts["guidance"]), len(z)
        cond = self._labels(labels, n, z.device)
        guided = labels is not None and w != 1.0
        labs = torch.cat([cond, torch.full_like(cond, self.null_class)]) if guided else cond
        net = self.ema.module
        x = z * sched.init_noise_sigma
        for t in tqdm(sched.timesteps, desc="denoising", leave=False, disable=not progress):
            inp = torch.cat([x, x]) if guided else x
            v = self._predict(net, sched.scale_model_input(inp, t), t, labs).float()
            if guided:  # guidance is linear, so mixing v is mixing the noise predictions
                v_c, v_u = v.chunk(2)
                v = v_u + w * (v_c - v_u)
            x = sched.step(v, t, x).prev_sample
            yield x

    def _to_images(self, x: Tensor) -> Tensor:
        return center_crop(((x + 1) / 2).clamp(0, 1), self.img_size, self.img_size)

    @torch.no_grad()
    def decode(self, z: Tensor, labels: Tensor | None = None, steps: int | None = None,
               guidance: float | None = None, sampler: str | None = None, progress: bool = False) -> Tensor:
        """Run the reverse process from noise ``z`` with the EMA weights; images in [0, 1]. Deterministic given
        ``z`` (DDIM with eta 0 and DPM-Solver++ add no noise). ``labels`` None samples unconditionally."""
        x = z
        for x_t in self._denoise(z, labels, {"steps": steps, "guidance": guidance, "sampler": sampler}, progress):
            x = x_t
        return self._to_images(x)

    @torch.no_grad()
    def trajectory(self, z: Tensor, labels: Tensor | None = None, keep: int = 6, steps: int | None = None,
                   guidance: float | None = None, sampler: str | None = None) -> list[tuple[int, Tensor]]:
        """(step, images) at ``keep`` evenly spaced steps of the reverse process, the last one the result: the
        denoising-trajectory figure."""
        total = int(steps or self.defaults["steps"])
        marks = {round(i * (total - 1) / max(1, keep - 1)) for i in range(keep)}
        opts = {"steps": total, "guidance": guidance, "sampler": sampler}
        return [(i + 1, self._to_images(x)) for i, x in enumerate(self._denoise(z, labels, opts)) if i in marks]


# lr 1e-3: what notebook 05 has trained it with; the autoencoders' 3e-3 is too high for the diffusion UNet
@register_model("ddpm", task="generate", defaults={"trainer": "diffusion", "conditional": True, "width": 32,
                                                   "lr": 1e-3})
def ddpm(num_classes: int, img_size: int = 64, width: int = 32, levels: int | None = None, layers: int = 1,
         attention: bool = True, timesteps: int = 1000, cond_drop: float = 0.1, ema_decay: float = 0.999,
         steps: int = 50, guidance: float = 2.0, sampler: str = "ddim", loss_weighting: str = "uniform",
         snr_gamma: float = 5.0, patch: int = 1) -> DDPM:
    """Class-conditional DDPM (diffusers UNet2DModel) with classifier-free guidance and EMA weights."""
    return DDPM(num_classes, img_size, width, levels, layers, attention, timesteps, cond_drop, ema_decay, steps,
                guidance, sampler, loss_weighting, snr_gamma, patch)
