/// The baselines comparison written out: Markdown tables in the layout of the paper's Tables 1 and
/// 2 (overall and the five question categories), a CSV of every score, and a grouped bar chart as
/// HTML (plotly.js inline) and PNG (headless Chromium, when installed).
module Lnmn.Analysis.ComparisonReport

open System
open System.IO
open Plotly.NET
open Lnmn.Core.Data
open Lnmn.Core.Training

/// Column headers as the paper writes them, then the breakdown's category names in the same order.
let columns = [ "Overall"; "Count"; "Exist"; "Compare Numbers"; "Query Attribute"; "Compare Attribute" ]
let private categoryNames = Clevr.Category.all |> List.map Clevr.Category.name

/// Overall and the five categories, in `columns` order (NaN where a category has no questions).
let percentages (b: Evaluation.Breakdown) =
    let category name =
        b.ByCategory |> List.tryFind (fun a -> a.Name = name) |> Option.map Evaluation.Accuracy.percent |> Option.defaultValue nan
    Evaluation.Accuracy.percent b.Overall :: List.map category categoryNames

/// One scored evaluation of one trained model.
type Scored =
    { /// The model's short name (stack-nmn, lnmn-11, …).
      Model: string
      Label: string
      /// "soft α", "hard-max α" or "no α".
      Evaluation: string
      Breakdown: Evaluation.Breakdown
      WeightSteps: int
      Seconds: float }

/// A table in the paper's layout: rows of (label, six percentages).
let markdownTable (rows: (string * float list) list) =
    let cell (x: float) = if Double.IsNaN x then "–" else sprintf "%.2f" x
    [ yield "| Model | " + String.concat " | " columns + " |"
      yield "| --- |" + String.replicate columns.Length " ---: |"
      for label, values in rows do yield $"| {label} | " + String.concat " | " (List.map cell values) + " |" ]
    |> String.concat "\n"

let private csvField (s: string) = if s.IndexOfAny [| ','; '"'; '\n' |] >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

/// One line per scored evaluation.
let csv (rows: Scored list) =
    let header = [ "model"; "label"; "evaluation" ] @ (columns |> List.map (fun c -> c.ToLowerInvariant().Replace(' ', '_'))) @ [ "questions"; "weight_steps"; "seconds" ]
    [ yield String.concat "," header
      for r in rows do
          let values = percentages r.Breakdown |> List.map (fun x -> if Double.IsNaN x then "" else sprintf "%.4f" x)
          yield [ r.Model; r.Label; r.Evaluation ] @ values @ [ string r.Breakdown.Overall.Total; string r.WeightSteps; sprintf "%.1f" r.Seconds ]
                |> List.map csvField |> String.concat "," ]
    |> String.concat "\n"
    |> fun s -> s + "\n"

/// Grouped bars: one group per column (overall, categories), one bar per row.
let barChart (title: string) (rows: (string * float list) list) =
    rows
    |> List.map (fun (label, values) -> Chart.Column(values = values, Keys = columns, Name = label))
    |> Chart.combine
    |> Chart.withTitle title
    |> Chart.withYAxisStyle ("accuracy (%)", MinMax = (0.0, 100.0))
    |> Chart.withSize (1000, 600)
    |> Chart.withDisplayOptionsStyle (PlotlyJSReference = PlotlyJSReference.Full)
    |> GenericChart.toEmbeddedHTML

/// Renders an HTML file to a PNG with headless Chromium; Error says why not (e.g. not installed).
let renderPng (html: string) (png: string) =
    match Chromium.find () with
    | None -> Error "no chromium on PATH: the chart is written as HTML only"
    | Some browser -> Chromium.screenshot browser html png (1000, 600) |> Result.map (fun () -> png)
