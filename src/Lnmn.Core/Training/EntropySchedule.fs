/// λ_w, the weight of the module-entropy term: 1 − 2e/49 for e ≤ 19, then 11/49 − 6/49·(e − 19),
/// so 1.0 at epoch 0 and −1.0 at 29 (positive spreads module use, negative sharpens it).
module Lnmn.Core.Training.EntropySchedule

/// λ_w at a (possibly fractional) epoch of the paper's 30-epoch schedule.
let paperLambda (epoch: float) =
    if epoch <= 19.0 then 1.0 - 2.0 * epoch / 49.0 else 11.0 / 49.0 - 6.0 / 49.0 * (epoch - 19.0)

/// The paper's epochs the schedule runs over.
let paperEpochs = 30

/// λ_w at weight step `step` (0-based) of a run of `totalSteps`: the run is cut into the paper's 30
/// epochs by its steps, whatever its own epochs, so it starts at 1.0 and ends at −1.0 in 30 plateaus.
let lambda (totalSteps: int) (step: int) =
    let epoch = if totalSteps <= 0 then 0 else min (paperEpochs - 1) (paperEpochs * step / totalSteps)
    paperLambda (float epoch)
