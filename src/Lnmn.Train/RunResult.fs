/// What a finished run is, as one value: its settings, its model, its scores on the validation
/// split, its length and time, and its evaluation curve. A run folder keeps it as result.json
/// (`RunFolder.readResult`); compare and learning-curve render lists of them.
module Lnmn.Train.RunResult

open System.Text.Json
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Training
open Lnmn.Train.Configs

/// One evaluation of the network (soft α, hard-max α, or once without α) and its scores.
type Evaluated<'Breakdown> = { Evaluation: Evaluation.AlphaEvaluation; Breakdown: 'Breakdown }

/// The validation split's scores, one entry per evaluation of the network's α.
type Scores =
    /// Accuracy overall, per question category and per last-function subtype.
    | Categories of Evaluated<Evaluation.Breakdown> list
    /// The official VQA accuracy overall, per answer type and per question type.
    | Vqa of Evaluated<VqaScore.Breakdown> list

/// The validation split scored (soft α) at one --eval-every point.
type CurvePoint =
    { Step: int
      Questions: int
      /// Training seconds so far (a resumed run's: since its resume).
      Seconds: float
      ValidationAccuracy: float }

type RunResult =
    { /// The run's settings as its config.json records them (`ConfigFile.forRerun`).
      Config: TrainConfig
      Spec: ModelSpec
      Scores: Scores
      /// Weight steps the run trained, in all.
      Steps: int
      /// Wall-clock seconds of the training and evaluation that finished the run (a resumed run's:
      /// since its resume).
      Seconds: float
      /// In step order; empty without --eval-every.
      Curve: CurvePoint list }

/// The soft-α overall accuracy (%) of a network with α, the one score of a network without: the
/// VQA accuracy on VQA, the share of right answers otherwise.
let softAccuracy (result: RunResult) =
    match result.Scores with
    | Categories scores -> Evaluation.Accuracy.percent scores.Head.Breakdown.Overall
    | Vqa scores -> VqaScore.Group.percent scores.Head.Breakdown.Overall

let toJson (result: RunResult) = SpecJson.serialize result

/// The result a file's text holds, or why it holds none.
let ofJson (json: string) : Result<RunResult, string> =
    try
        match SpecJson.deserialize<RunResult> json with
        | result when obj.ReferenceEquals(result, null) -> Error "null, not a run's result"
        | result -> Ok result
    with :? JsonException as e -> Error e.Message
