/// Algorithm 2's α rules mapped onto a run's length (docs/design.md, "α at a small budget").
///
/// The paper fits α with Adam at lr 3e-4 over about 330K α steps (30 epochs of CLEVR's 700K
/// questions at batch 64). Adam moves a parameter by about lr per step whatever the gradient's
/// scale, so lr × steps is how far α can travel in a run; a run of a few thousand steps at the
/// paper's lr can move α by about 1, no more than its N(0,1) initialisation, so the initialisation
/// picks the ops. The scaled schedule keeps the paper's travel instead, and starts α where the
/// search is decided by the cross-entropy rather than by the draw.
module Lnmn.Core.Training.AlphaSchedule

open Lnmn.Core.Training.TrainingSpec

/// The paper's α steps: 30 epochs of 699,989 CLEVR training questions at batch 64.
let paperAlphaSteps = 30.0 * 699_989.0 / 64.0

/// Adam's lr from above: far larger steps make α jump between one-hot corners from batch noise.
let maxLearningRate = 3e-2

/// α's lr for a run of `alphaSteps` α steps that keeps the paper's lr × steps: never below
/// `paperLr`, at most `maxLearningRate`.
let learningRate (paperLr: float) (alphaSteps: int) =
    if alphaSteps <= 0 then paperLr
    else paperLr * paperAlphaSteps / float alphaSteps |> min maxLearningRate |> max paperLr

/// How a run searches α.
type Rule =
    /// Algorithm 2 as the paper states it: α ~ N(0,1), α lr 3e-4, an α step on every batch from the
    /// first.
    | Paper
    /// Ours: α ~ 1e-3·N(0,1) (DARTS' start, every node the uniform mixture), α lr scaled by
    /// `learningRate`, the weights trained alone for the first `warmup` of the run.
    | Scaled of warmup: float
    /// α kept at its N(0,1) initialisation, no α steps: a random architecture, the baseline a
    /// search has to beat.
    | Frozen

module Rule =
    /// DARTS' initialisation scale.
    let scaledInitialisation = 1e-3

    let ours = Scaled 0.2

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

    /// α's Adam settings for a run of `weightSteps` weight steps.
    let alphaSettings rule (paper: AdamSettings) (weightSteps: int) =
        match rule with
        | Paper | Frozen -> paper
        | Scaled w ->
            let alphaSteps = int (float weightSteps * (1.0 - w))
            { paper with LearningRate = learningRate paper.LearningRate alphaSteps }

/// Whether the α step runs at weight step `step` (0-based) of `totalSteps`.
let isSearching (warmup: float option) (step: int) (totalSteps: int) =
    match warmup with
    | None -> true
    | Some w -> w < 1.0 && float step >= w * float totalSteps
