/// λ_w, the weight of the module-entropy term: 1 − 2e/49 for e ≤ 19, then 11/49 − 6/49·(e − 19),
/// so 1.0 at epoch 0 and −1.0 at 29 (positive spreads module use, negative sharpens it).
module Lnmn.Core.Training.EntropySchedule

/// λ_w at a (possibly fractional) epoch of the paper's 30-epoch schedule.
let paperLambda (epoch: float) =
    if epoch <= 19.0 then 1.0 - 2.0 * epoch / 49.0 else 11.0 / 49.0 - 6.0 / 49.0 * (epoch - 19.0)

/// λ_w at `epoch` of a run of `epochs`: the run is stretched onto the paper's epochs 0..29, so its
/// first epoch gets 1.0 and its last −1.0 whatever its length.
let lambda (epochs: int) (epoch: int) =
    if epochs <= 1 then paperLambda 0.0 else paperLambda (float epoch * 29.0 / float (epochs - 1))
