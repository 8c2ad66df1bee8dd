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
      Evaluation: Evaluation.AlphaEvaluation
      Breakdown: Evaluation.Breakdown
      WeightSteps: int
      Seconds: float }

/// A table in the paper's layout: rows of (label, six percentages).
let markdownTable (rows: (string * float list) list) =
    Table.markdown
        { Columns = "Model" :: columns
          Rows = [ for label, values in rows -> Table.Text label :: [ for v in values -> Table.Number(v, 2) ] ] }

/// Overall accuracy with soft and with hard-max α of every model with α, and the change, from each
/// model's (key, scored rows) in the comparison's order.
let hardMaxTable (models: (string * Scored list) list) =
    Table.markdown
        { Columns = "Model" :: List.map Evaluation.AlphaEvaluation.label [ Evaluation.AlphaEvaluation.Soft; Evaluation.AlphaEvaluation.HardMax ] @ [ "change" ]
          Rows =
            [ for key, rows in models do
                match rows with
                | [ soft; hard ] ->
                    let s, h = Evaluation.Accuracy.percent soft.Breakdown.Overall, Evaluation.Accuracy.percent hard.Breakdown.Overall
                    yield [ Table.Text $"{soft.Label} ({key})"; Table.Number(s, 2); Table.Number(h, 2); Table.Change(h - s, 2) ]
                | _ -> () ] }

/// Weight steps and minutes each model trained for, from its first scored row.
let budgetTable (models: (string * Scored list) list) =
    Table.markdown
        { Columns = [ "model"; "weight steps"; "minutes" ]
          Rows =
            [ for key, rows in models ->
                let r = List.head rows
                [ Table.Text key; Table.Number(float r.WeightSteps, 0); Table.Number(r.Seconds / 60.0, 1) ] ] }

/// One line per scored evaluation; percentages to four decimals, seconds to one.
let csv (rows: Scored list) =
    let header = [ "model"; "label"; "evaluation" ] @ (columns |> List.map (fun c -> c.ToLowerInvariant().Replace(' ', '_'))) @ [ "questions"; "weight_steps"; "seconds" ]
    Table.csv
        (Table.ofText header
            [ for r in rows ->
                let values = percentages r.Breakdown |> List.map (fun x -> if Double.IsNaN x then "" else sprintf "%.4f" x)
                [ r.Model; r.Label; Evaluation.AlphaEvaluation.label r.Evaluation ] @ values
                @ [ string r.Breakdown.Overall.Total; string r.WeightSteps; sprintf "%.1f" r.Seconds ] ])

/// Grouped bars: one group per column (overall, categories), one bar per row.
let barChart (title: string) (rows: (string * float list) list) : Plots.Figure =
    rows
    |> List.map (fun (label, values) -> Chart.Column(values = values, Keys = columns, Name = label))
    |> Chart.combine
    |> Chart.withTitle title
    |> Chart.withYAxisStyle ("accuracy (%)", MinMax = (0.0, 100.0))
    |> Plots.figure (1000, 600)
