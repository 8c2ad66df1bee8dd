/// Oracle maps for comparison questions: the instrument that separates map from answer (issue 25).
/// From a question's scene and program, the two objects (or object sets) its final comparison
/// compares, as maps over the feature grid, for the answer cells to read in place of the stack
/// (`LnmnNetwork.ReferenceForward` with `ReferenceStep.AnswerMaps`) while the attention cells run as
/// usual. If the answer cells compare well from them, what fails is learning the map.
module Lnmn.Analysis.OracleMaps

open TorchSharp
open Lnmn.Core.Data
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes
open Lnmn.Core.Network

/// The two object sets a program's final comparison compares: for equal_<attribute> the objects
/// its two queries read (each a `unique` object), for equal_integer / less_than / greater_than the
/// sets its two counts count. None when the program does not end in a comparison or does not run.
let comparedObjects (scene: Scene) (program: ProgramStep list) : (Set<int> * Set<int>) option =
    let steps = Array.ofList program
    let objectsAt (i: int) =
        match execute scene (List.ofArray steps[0..i]) with
        | Ok(Object o) -> Some(Set.singleton o)
        | Ok(Objects s) -> Some s
        | _ -> None
    // The comparison's input is a query (of a unique object) or a count (of a set): what it reads.
    let operand (input: int) =
        if input < 0 || input >= steps.Length then None
        else steps[input].Inputs |> List.tryHead |> Option.bind objectsAt
    match Array.tryLast steps with
    | Some last ->
        match last.Function, last.Inputs with
        | (EqualAttribute _ | EqualInteger | LessThan | GreaterThan), [ x; y ] ->
            match operand x, operand y with
            | Some a, Some b -> Some(a, b)
            | _ -> None
        | _ -> None
    | None -> None

/// Which cells stand for an object on the map.
type Footprint =
    /// Its centre cell (`SceneGen.cellOf`), one per object: the map says where, nothing about what.
    | Centre
    /// The cells its disc shows in the rendered features (`Render.owners`; its centre cell where
    /// another object hides all of it): a large object covers up to five cells on the built-in
    /// grid, a small one one, so the map's extent tells size.
    | Shown

module Footprint =
    let name f = match f with Centre -> "centre" | Shown -> "shown"

/// The cells (row-major, gridSize × gridSize) standing for the objects.
let cells (footprint: Footprint) (gridSize: int) (scene: Scene) (objects: Set<int>) : Set<int> =
    let centre o =
        let c = scene.Objects[o].Coords
        let column, row = SceneGen.cellOf gridSize c[0] c[1]
        row * gridSize + column
    match footprint with
    | Centre -> objects |> Set.map centre
    | Shown ->
        let owned = Render.owners gridSize scene
        objects
        |> Seq.collect (fun o ->
            let shown = [ for cell in 0 .. owned.Length - 1 do match owned[cell] with Some(i, _) when i = o -> yield cell | _ -> () ]
            if shown.IsEmpty then [ centre o ] else shown)
        |> Set.ofSeq

/// The logit an oracle map puts on the objects' cells (0 elsewhere): the stack holds raw attention
/// logits, and attention-weighted pooling takes their softmax over H×W; at 10 the objects' cells
/// hold ≥ 99% of it on a grid of up to 14 × 14 (e^10 / (e^10 + 195)), while the value stays of the
/// order the image side enters a node with.
let objectLogit = 10.0

/// A map (row-major float32, gridSize²) with `value` on `cells` and 0 elsewhere.
let map (gridSize: int) (value: float) (cells: Set<int>) : float32[] =
    Array.init (gridSize * gridSize) (fun cell -> if cells.Contains cell then float32 value else 0.0f)

/// What the answer cells read: the union of the two compared objects (3-input cells read it, and
/// 4-input cells read it as both a1 and a2), or the objects one per map (3-input cells read the first;
/// 4-input cells the first as a1 and the second as a2).
type Mode =
    | Union
    | PerObject

module Mode =
    let name m = match m with Union -> "union" | PerObject -> "per-object"

/// The (first, second) maps of one question; two zero maps (a uniform softmax) when it has no comparison.
let questionMaps (mode: Mode) (footprint: Footprint) (gridSize: int) (scene: Scene) (program: ProgramStep list) : float32[] * float32[] =
    match comparedObjects scene program with
    | Some(a, b) ->
        let mapOf objects = map gridSize objectLogit (cells footprint gridSize scene objects)
        match mode with
        | Union -> let u = mapOf (Set.union a b) in u, u
        | PerObject -> mapOf a, mapOf b
    | None -> let zero = Array.zeroCreate (gridSize * gridSize) in zero, zero

/// The answer maps of a batch, (B, H, W) each, from each question's (first, second) maps.
let answerMaps (device: torch.Device) (gridSize: int) (maps: (float32[] * float32[])[]) : ReferenceStep.AnswerMaps =
    let g = int64 gridSize
    let stacked (pick: float32[] * float32[] -> float32[]) =
        torch.tensor(Array.collect pick maps, device = device).reshape(int64 maps.Length, g, g)
    { First = stacked fst; Second = stacked snd }
