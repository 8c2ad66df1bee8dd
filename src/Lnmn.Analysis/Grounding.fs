/// Grounding: does the map under the pointer look at the objects the question's program selects?
/// For a program that opens with scene → filter…, the objects that chain selects are where a first
/// Find should look; the measure is the softmax mass of the map (over its H×W cells) on the cells
/// under those objects' centres, per controller step, against the mass a uniform map puts there.
module Lnmn.Analysis.Grounding

open Lnmn.Core.Data
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

/// The objects of the program's opening scene → filter… chain; None when the program does not
/// open with a filter, or the chain selects no object or every object (nothing to localise).
let firstFilterTargets (scene: Scene) (program: ProgramStep list) : Set<int> option =
    let opening =
        program
        |> List.indexed
        |> List.takeWhile (fun (i, step) ->
            match step.Function with
            | Function.Scene -> i = 0
            | Filter _ -> step.Inputs = [ i - 1 ]
            | _ -> false)
        |> List.map snd
    if opening.Length < 2 then None
    else
        match execute scene opening with
        | Ok(Objects s) when not s.IsEmpty && s.Count < scene.Objects.Length -> Some s
        | _ -> None

/// (row, column) cells under the objects' centres on a gridSize × gridSize map.
let cells (gridSize: int) (scene: Scene) (objects: Set<int>) =
    objects
    |> Set.map (fun o ->
        let c = scene.Objects[o].Coords
        let column, row = SceneGen.cellOf gridSize c[0] c[1]
        row, column)

/// softmax over a row-major map of logits (`width` columns), summed over `targets`.
let massOn (width: int) (map: float[]) (targets: Set<int * int>) =
    let top = Array.max map
    let weights = map |> Array.map (fun x -> exp (x - top))
    let total = Array.sum weights
    (targets |> Seq.sumBy (fun (r, c) -> weights[r * width + c])) / total

type Summary =
    { Questions: int
      /// Mean mass on the targets after each controller step.
      PerStep: float list
      /// Mean mass a uniform map puts on the targets.
      Chance: float }

/// Summarises (per-step masses, chance) of the measured questions.
let summarise (measured: (float list * float) list) =
    match measured with
    | [] -> None
    | (first, _) :: _ ->
        let n = float measured.Length
        Some
            { Questions = measured.Length
              PerStep = List.init first.Length (fun t -> (measured |> List.sumBy (fun (m, _) -> m[t])) / n)
              Chance = (measured |> List.sumBy snd) / n }

let describe (s: Summary) =
    let steps = s.PerStep |> List.mapi (fun t m -> $"step {t + 1} {100.0 * m:F1}%%") |> String.concat ", "
    $"grounding (map under the pointer, softmax mass on the objects the program's first filters select; {s.Questions} questions): {steps}; a uniform map: {100.0 * s.Chance:F1}%%"
