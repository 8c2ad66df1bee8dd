/// Algorithm 2's α rules mapped onto a run's length (docs/design.md §4).
///
/// Adam moves a parameter by about its lr per step whatever the gradient's scale, so lr × steps is
/// how far α can travel in a run. A node is one-hot to 99.8% once its winner leads the other five
/// by 8; the paper's 3e-4 over its ~328K α steps allows a travel of ~100, a run of a few thousand
/// steps at that lr allows ~1, no more than α's N(0,1) draw, so the draw picks the ops. Mapping the
/// paper's travel instead (lr × 40 for 8K steps) lets λ_op drive every node one-hot within a few
/// hundred steps, before the weights compute anything, and the search collapses onto whatever led
/// early (measured: every node one-hot at 99.4%, no product left). The scaled rule gives α just
/// the travel it needs to end one-hot, starting from DARTS' near-uniform 1e-3·N(0,1).
module Lnmn.Core.Training.AlphaSchedule

open Lnmn.Core.Training.TrainingSpec

/// How far α needs to travel to make a node one-hot: e^8 / (e^8 + 5) = 99.8%.
let travel = 8.0

/// Adam's lr from above.
let maxLearningRate = 3e-2

/// α's lr for a run of `alphaSteps` α steps: `travel` / steps, never below `paperLr` (the paper's
/// own run gets the paper's lr) and at most `maxLearningRate`.
let learningRate (paperLr: float) (alphaSteps: int) =
    if alphaSteps <= 0 then paperLr
    else travel / float alphaSteps |> min maxLearningRate |> max paperLr

/// How a run searches α.
type Rule =
    /// Algorithm 2 as the paper states it: α ~ N(0,1), α lr 3e-4, an α step on every batch from the
    /// first.
    | Paper
    /// Ours: α ~ 1e-3·N(0,1) (DARTS' start, every node the uniform mixture), α's lr scaled to the
    /// run by `learningRate`, the weights trained alone for the first `warmup` of the run.
    | Scaled of warmup: float
    /// α kept at its N(0,1) initialisation, no α steps: a random architecture, the baseline a
    /// search has to beat.
    | Frozen

module Rule =
    /// DARTS' initialisation scale.
    let scaledInitialisation = 1e-3

    let name rule =
        match rule with
        | Paper -> "paper"
        | Scaled w -> $"scaled (warm-up {w:P0})"
        | Frozen -> "frozen"

    /// α's init scale (None: the paper's N(0,1)).
    let initialisationScale rule =
        match rule with
        | Scaled _ -> Some scaledInitialisation
        | Paper | Frozen -> None

    /// The fraction of the run before the first α step.
    let warmup rule =
        match rule with
        | Paper -> None
        | Scaled w -> Some w
        | Frozen -> Some 1.0

    /// α's Adam settings for a run of `weightSteps` weight steps whose search ends at `hardenAt`
    /// of the run (None: at its end), with an α step on every `every`-th batch of it.
    let alphaSettings rule (paper: AdamSettings) (weightSteps: int) (hardenAt: float option) (every: int) =
        match rule with
        | Paper | Frozen -> paper
        | Scaled w ->
            let alphaSteps = int (float weightSteps * (defaultArg hardenAt 1.0 - w)) / max 1 every
            { paper with LearningRate = learningRate paper.LearningRate alphaSteps }

/// Whether weight step `step` (0-based) of `totalSteps` trains the hard-max network with α frozen.
let isHardened (hardenAt: float option) (step: int) (totalSteps: int) =
    match hardenAt with
    | None -> false
    | Some h -> float step >= h * float totalSteps

/// τ of softmax(α / τ) at weight step `step` (0-based) of `totalSteps`: 1 until the α phase starts
/// (after `warmup` of the run), then annealTo^progress, progress going from 0 at the phase's first
/// step to 1 at the run's last.
let temperature (annealTo: float option) (warmup: float option) (step: int) (totalSteps: int) =
    match annealTo with
    | None -> 1.0
    | Some final ->
        let start = defaultArg warmup 0.0 * float totalSteps
        let span = float (totalSteps - 1) - start
        if float step <= start || span <= 0.0 then 1.0
        else final ** (min 1.0 ((float step - start) / span))

/// Whether the α phase has reached weight step `step` (0-based) of `totalSteps`: after the warm-up
/// and before the run hardens.
let isSearching (warmup: float option) (hardenAt: float option) (step: int) (totalSteps: int) =
    not (isHardened hardenAt step totalSteps)
    && match warmup with
       | None -> true
       | Some w -> w < 1.0 && float step >= w * float totalSteps

/// Whether weight step `step` is preceded by an α step: in the α phase, on every `every`-th step
/// (None: every step), counted from the step number so that a resumed run keeps the rhythm.
let takesAlphaStep (warmup: float option) (hardenAt: float option) (every: int option) (step: int) (totalSteps: int) =
    isSearching warmup hardenAt step totalSteps && step % defaultArg every 1 = 0
