/// Accuracy overall, per question category and per last-function subtype.
module Lnmn.Core.Training.Evaluation

open Lnmn.Core

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

/// One column per evaluation (e.g. soft α and hard-max α), then the question count; rows overall,
/// per category, per subtype (indented).
let table (columns: (string * Breakdown) list) : Table.Table =
    match columns with
    | [] -> { Columns = []; Rows = [] }
    | (_, first) :: _ ->
        let row (label: Table.Cell) (a: Accuracy) (pick: Breakdown -> Accuracy option) =
            label :: (columns |> List.map (fun (_, b) -> Table.Number(pick b |> Option.map Accuracy.percent |> Option.defaultValue nan, 2)))
            @ [ Table.Number(float a.Total, 0) ]
        let find name (list: Accuracy list) = list |> List.tryFind (fun a -> a.Name = name)
        { Columns = "question type" :: List.map fst columns @ [ "questions" ]
          Rows =
            [ yield row (Table.Bold(Table.Text "Overall")) first.Overall (fun b -> Some b.Overall)
              for c in first.ByCategory do yield row (Table.Text c.Name) c (fun b -> find c.Name b.ByCategory)
              for s in first.BySubtype do yield row (Table.Text $"  {s.Name}") s (fun b -> find s.Name b.BySubtype) ] }

let markdown (columns: (string * Breakdown) list) = Table.markdown (table columns)
