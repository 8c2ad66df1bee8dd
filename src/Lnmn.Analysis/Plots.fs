/// Pictures a person would rather look at than tables, as HTML that renders offline: plotly.js
/// inline (one page on its own) or from a plotly.min.js written next to the pages (a report).
module Lnmn.Analysis.Plots

open Plotly.NET
open Lnmn.Core.Specs

/// A chart and the size it is drawn at (what a screenshot of it needs).
type Figure = { Chart: GenericChart; Width: int; Height: int }

let figure (width: int, height: int) (chart: GenericChart) =
    { Chart = chart |> Chart.withSize (width, height); Width = width; Height = height }

let private render (reference: PlotlyJSReference) (f: Figure) =
    f.Chart |> Chart.withDisplayOptionsStyle (PlotlyJSReference = reference) |> GenericChart.toEmbeddedHTML

/// The page with plotly.js inline (3.6 MB): opens anywhere, offline.
let selfContained (f: Figure) = render PlotlyJSReference.Full f

/// The page loading plotly.js from `scriptPath` (e.g. "plotly.min.js" next to it: see `plotlyJs`).
let sharingScript (scriptPath: string) (f: Figure) = render (PlotlyJSReference.CDN scriptPath) f

/// A page without plotly's toolbar, which a still image cannot use (for screenshots).
let still (page: string) = page.Replace("</head>", "<style>.modebar-container{display:none!important}</style></head>")

/// The plotly.js that Plotly.NET carries, to write once next to pages that share it.
let plotlyJs () =
    let assembly = typeof<GenericChart>.Assembly
    let name = assembly.GetManifestResourceNames() |> Array.find (fun n -> n.EndsWith ".min.js")
    use stream = assembly.GetManifestResourceStream name
    use reader = new System.IO.StreamReader(stream)
    reader.ReadToEnd()

/// softmax(α) as a heat map: one row per module and node, one column per op (paper Figure 3).
let alphaHeatmapFigure (readouts: AlphaReadout.NodeReadout list) =
    let rows = readouts |> List.map (fun r -> $"m{r.Module} {CellKind.name r.Kind} n{r.Node}")
    let ops = NodeOp.all |> List.map NodeOp.name
    let z = readouts |> List.map (fun r -> r.Weights)
    Chart.Heatmap(zData = z, colNames = ops, rowNames = rows, ReverseYAxis = true)
    |> Chart.withTitle "softmax(α) per module and node"
    |> figure (700, 120 + 22 * rows.Length)

let alphaHeatmap readouts = selfContained (alphaHeatmapFigure readouts)

/// Integrated gradients of α summed over each module's nodes (paper Table 5), as a heat map.
let attributionHeatmapFigure (rows: IntegratedGradients.ModuleAttribution list) =
    let names = rows |> List.map (fun r -> $"m{r.Module} {CellKind.name r.Kind}")
    Chart.Heatmap(zData = (rows |> List.map (fun r -> r.PerOp)), colNames = (NodeOp.all |> List.map NodeOp.name), rowNames = names, ReverseYAxis = true)
    |> Chart.withTitle "integrated gradients of α per module (sum over nodes and questions)"
    |> figure (760, 140 + 30 * names.Length)

/// λ_w over a run (the paper's 30 epochs laid over the run's weight steps).
let entropyScheduleFigure () =
    let points = 300
    let x = [ 0 .. points - 1 ]
    Chart.Line(x = (x |> List.map (fun i -> 100.0 * float i / float points)), y = (x |> List.map (Lnmn.Core.Training.EntropySchedule.lambda points)), Name = "λ_w")
    |> Chart.withTitle "λ_w over the run"
    |> Chart.withXAxisStyle "% of the run's weight steps"
    |> Chart.withYAxisStyle "λ_w"
    |> figure (700, 420)

let entropySchedule () = selfContained (entropyScheduleFigure ())

/// Train and validation accuracy per epoch, from a run's metrics-epochs.jsonl rows
/// (epoch, train accuracy %, validation accuracy %).
let trainingCurvesFigure (rows: (int * float * float) list) =
    let epochs = rows |> List.map (fun (e, _, _) -> e + 1)
    [ Chart.Line(x = epochs, y = (rows |> List.map (fun (_, t, _) -> t)), Name = "train accuracy", ShowMarkers = true)
      Chart.Line(x = epochs, y = (rows |> List.map (fun (_, _, v) -> v)), Name = "validation accuracy", ShowMarkers = true) ]
    |> Chart.combine
    |> Chart.withTitle "accuracy per epoch (%)"
    |> Chart.withXAxisStyle "epoch"
    |> Chart.withYAxisStyle "%"
    |> figure (700, 420)

let trainingCurves rows = selfContained (trainingCurvesFigure rows)

/// w(t) of one question: one row per controller step, one column per module.
let moduleWeightsFigure (title: string) (trace: Trace.QuestionTrace) =
    let steps = trace.ModuleWeights |> Array.mapi (fun t _ -> $"t={t + 1}") |> List.ofArray
    Chart.Heatmap(zData = (trace.ModuleWeights |> Array.map List.ofArray |> List.ofArray), colNames = trace.Modules, rowNames = steps, ReverseYAxis = true)
    |> Chart.withTitle $"module weights w(t): {title}"
    |> figure (200 + 70 * trace.Modules.Length, 160 + 40 * steps.Length)

/// The map under the stack pointer after each step, on the feature grid (raw attention logits),
/// with the question words each step attended to most in the subplot titles.
let attentionMapsFigure (title: string) (trace: Trace.QuestionTrace) =
    let topWord (attention: float[]) =
        if attention.Length = 0 then "" else trace.Words.[Array.findIndex ((=) (Array.max attention)) attention]
    let titles = trace.WordAttention |> Array.mapi (fun t a -> $"t={t + 1}: \"{topWord a}\"")
    let steps = trace.AttentionMaps.Length
    // One colour scale for all steps, so that the one colour bar holds for every map.
    let all = trace.AttentionMaps |> Array.collect (Array.collect id)
    let low, high = (if all.Length = 0 then 0.0 else Array.min all), (if all.Length = 0 then 1.0 else Array.max all)
    trace.AttentionMaps
    |> Array.mapi (fun t map ->
        Chart.Heatmap(zData = (map |> Array.map List.ofArray |> List.ofArray), ShowScale = (t = steps - 1), ReverseYAxis = true)
        |> GenericChart.mapTrace (fun trace -> (trace :?> Trace2D) |> Trace2DStyle.Heatmap(ZMin = low, ZMax = high) :> Trace))
    |> Chart.Grid(1, steps, SubPlotTitles = titles)
    |> Chart.withTitle $"map under the pointer after each step: {title}"
    |> figure (80 + 220 * steps, 340)

/// Validation accuracy of several runs against questions seen (left) and training seconds (right);
/// each run's points are (questions, seconds, accuracy %).
let learningCurvesFigure (runs: (string * (float * float * float) list) list) =
    let colours = [ "#1f77b4"; "#d62728"; "#2ca02c"; "#9467bd" ]
    let panel (x: float * float * float -> float) (axis: string) (legend: bool) =
        runs
        |> List.mapi (fun i (name, points) ->
            let colour = Color.fromString colours[i % colours.Length]
            Chart.Line(x = (points |> List.map x), y = (points |> List.map (fun (_, _, a) -> a)), Name = name, ShowMarkers = true,
                       ShowLegend = legend, LineColor = colour, MarkerColor = colour))
        |> Chart.combine
        |> Chart.withXAxisStyle axis
        |> Chart.withYAxisStyle "validation accuracy (%)"
    [ panel (fun (q, _, _) -> q) "questions seen" true; panel (fun (_, s, _) -> s) "training seconds" false ]
    |> Chart.Grid(1, 2)
    |> Chart.withTitle "learning curves: validation accuracy against questions seen and against wall-clock"
    |> figure (1200, 480)
