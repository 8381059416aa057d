"""Knowledge-distillation loss shared by the teacher-student methods (SCRUB, Bad Teacher)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_t(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * mean_i KL(softmax(t_i/T) || softmax(s_i/T))`` (SCRUB's official ``DistillKL``: sum over classes and
    batch, divided by the batch size; Hinton et al. 2015's temperature-scaled distillation)."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    p_t = F.softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_p_s, p_t, reduction="sum")
    return kl * temperature ** 2 / student_logits.shape[0]
