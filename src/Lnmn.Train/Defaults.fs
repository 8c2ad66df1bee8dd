/// The defaults of lnmn-train's subcommands: what an evaluation, a report or a comparison assumes
/// when an option is not given.
module Lnmn.Train.Defaults

open Lnmn.Core

let device = Device.Auto

/// `eval` and `report`.
module Scoring =
    /// The split scored.
    let split = "val"
    /// Riemann steps of the report's integrated gradients.
    let igSteps = 16
    /// Questions the report draws with their w(t) and attention maps.
    let pictures = 3

/// `compare`.
module Compare =
    let out = "comparison"
    let seed = 0
    /// The full comparison on the built-in dataset: the main job's budget, one pass over its 450K
    /// training questions per model (about 11 minutes an LNMN model on this project's 2-core machine).
    /// With --data every model gets the trainer's default.
    let epochsOnBuiltIn = 1
    /// `--quick`: a smoke test of minutes in all.
    let quickEpochs = 1
    let quickMaxSteps = 25
