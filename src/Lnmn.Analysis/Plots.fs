/// Pictures a person would rather look at than tables, as self-contained HTML (plotly.js inline, so
/// the page renders offline).
module Lnmn.Analysis.Plots

open Plotly.NET
open Lnmn.Core.Specs

let private html (chart: GenericChart) =
    chart
    |> Chart.withDisplayOptionsStyle (PlotlyJSReference = PlotlyJSReference.Full)
    |> GenericChart.toEmbeddedHTML

/// softmax(α) as a heat map: one row per module and node, one column per op (paper Figure 3).
let alphaHeatmap (readouts: AlphaReadout.NodeReadout list) =
    let rows = readouts |> List.map (fun r -> $"m{r.Module} {CellKind.name r.Kind} n{r.Node}")
    let ops = NodeOp.all |> List.map NodeOp.name
    let z = readouts |> List.map (fun r -> r.Weights)
    Chart.Heatmap(zData = z, colNames = ops, rowNames = rows, ReverseYAxis = true)
    |> Chart.withTitle "softmax(α) per module and node"
    |> Chart.withSize (700, 120 + 22 * rows.Length)
    |> html

/// λ_w over a run of `epochs` (the paper's schedule, stretched).
let entropySchedule (epochs: int) =
    let x = [ 0 .. epochs - 1 ]
    Chart.Line(x = x, y = (x |> List.map (Lnmn.Core.Training.EntropySchedule.lambda epochs)), Name = "λ_w")
    |> Chart.withTitle $"λ_w per epoch ({epochs} epochs)"
    |> Chart.withXAxisStyle "epoch"
    |> Chart.withYAxisStyle "λ_w"
    |> html

/// Train and validation accuracy per epoch, from a run's metrics-epochs.jsonl rows
/// (epoch, train accuracy %, validation accuracy %).
let trainingCurves (rows: (int * float * float) list) =
    let epochs = rows |> List.map (fun (e, _, _) -> e + 1)
    [ Chart.Line(x = epochs, y = (rows |> List.map (fun (_, t, _) -> t)), Name = "train accuracy", ShowMarkers = true)
      Chart.Line(x = epochs, y = (rows |> List.map (fun (_, _, v) -> v)), Name = "validation accuracy", ShowMarkers = true) ]
    |> Chart.combine
    |> Chart.withTitle "accuracy per epoch (%)"
    |> Chart.withXAxisStyle "epoch"
    |> Chart.withYAxisStyle "%"
    |> html
