/// Accuracy overall, per question category and per last-function subtype.
module Lnmn.Core.Training.Evaluation

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

/// Groups appear in the given orders first (so tables line up across runs), then any others.
let breakdown (categoryOrder: string list) (subtypeOrder: string list) (scored: Scored list) =
    let grouped key order =
        let groups = scored |> List.groupBy key |> Map.ofList
        let extra = groups |> Map.keys |> Seq.filter (fun k -> not (List.contains k order)) |> Seq.sort |> List.ofSeq
        [ for name in order @ extra do
            match groups.TryFind name with
            | Some g -> accuracyOf name g
            | None -> () ]
    { Overall = accuracyOf "Overall" scored
      ByCategory = grouped (fun s -> s.Category) categoryOrder
      BySubtype = grouped (fun s -> s.Subtype) subtypeOrder }

/// A Markdown table with one column per evaluation (e.g. soft α and hard-max α).
let markdown (columns: (string * Breakdown) list) =
    match columns with
    | [] -> ""
    | (_, first) :: _ ->
        let row (label: string) (pick: Breakdown -> Accuracy option) =
            let cells = columns |> List.map (fun (_, b) -> pick b |> Option.map (Accuracy.percent >> sprintf "%.2f") |> Option.defaultValue "–")
            "| " + String.concat " | " (label :: cells) + " |"
        let find name (list: Accuracy list) = list |> List.tryFind (fun a -> a.Name = name)
        [ yield "| question type | " + String.concat " | " (List.map fst columns) + " |"
          yield "| --- |" + String.replicate columns.Length " ---: |"
          yield row $"**Overall** ({first.Overall.Total})" (fun b -> Some b.Overall)
          for c in first.ByCategory do yield row $"{c.Name} ({c.Total})" (fun b -> find c.Name b.ByCategory)
          for s in first.BySubtype do yield row $"  {s.Name} ({s.Total})" (fun b -> find s.Name b.BySubtype) ]
        |> String.concat "\n"
