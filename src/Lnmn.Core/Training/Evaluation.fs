/// Accuracy overall, per question category and per last-function subtype.
module Lnmn.Core.Training.Evaluation

open Lnmn.Core.Network

/// Which scores of a network a table shows: with softmax(α) as trained, with hard-max α (one op
/// per node, paper Table 2), or, for a network without α, its one score.
[<RequireQualifiedAccess>]
type AlphaEvaluation =
    | Soft
    | HardMax
    | NoAlpha

module AlphaEvaluation =
    /// The name tables and CSV files give it.
    let label (evaluation: AlphaEvaluation) =
        match evaluation with
        | AlphaEvaluation.Soft -> "soft α"
        | AlphaEvaluation.HardMax -> "hard-max α"
        | AlphaEvaluation.NoAlpha -> "no α"

    /// Soft and hard-max α for a network with α; its one score for a network without.
    let ofNetwork (hasAlpha: bool) =
        if hasAlpha then [ AlphaEvaluation.Soft; AlphaEvaluation.HardMax ] else [ AlphaEvaluation.NoAlpha ]

    /// How the nodes weigh their ops under it (a network without α has no nodes to weigh).
    let nodeEvaluation (evaluation: AlphaEvaluation) =
        match evaluation with
        | AlphaEvaluation.Soft | AlphaEvaluation.NoAlpha -> NodeOps.NodeEvaluation.soft
        | AlphaEvaluation.HardMax -> NodeOps.NodeEvaluation.hardMax

/// One answered question; category and subtype are display names ("Count", "query_color", …).
type Scored = { Predicted: int; Answer: int; Category: string; Subtype: string }

type Accuracy = { Name: string; Correct: int; Total: int }

module Accuracy =
    let percent (a: Accuracy) = if a.Total = 0 then nan else 100.0 * float a.Correct / float a.Total

type Breakdown =
    { Overall: Accuracy
      ByCategory: Accuracy list
      BySubtype: Accuracy list }

let private accuracyOf name (scored: Scored list) =
    { Name = name; Correct = scored |> List.filter (fun s -> s.Predicted = s.Answer) |> List.length; Total = scored.Length }

/// Items grouped by `key`: the groups named in `order` first (so tables line up across runs), then
/// any others in sorted order; empty groups are left out.
let groupInOrder (key: 'T -> string) (order: string list) (items: 'T list) : (string * 'T list) list =
    let groups = items |> List.groupBy key |> Map.ofList
    let extra = groups |> Map.keys |> Seq.filter (fun k -> not (List.contains k order)) |> Seq.sort |> List.ofSeq
    [ for name in order @ extra do
        match groups.TryFind name with
        | Some g -> name, g
        | None -> () ]

let breakdown (categoryOrder: string list) (subtypeOrder: string list) (scored: Scored list) =
    let grouped key order = groupInOrder key order scored |> List.map (fun (name, g) -> accuracyOf name g)
    { Overall = accuracyOf "Overall" scored
      ByCategory = grouped (fun s -> s.Category) categoryOrder
      BySubtype = grouped (fun s -> s.Subtype) subtypeOrder }
