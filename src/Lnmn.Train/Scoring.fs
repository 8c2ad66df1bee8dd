/// Scores a network on a split: accuracy overall, per category and per last-function subtype,
/// with soft or hard-max α.
module Lnmn.Train.Scoring

open System
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Train.TrainingData

let private categoryNames = Clevr.Category.all |> List.map Clevr.Category.name
let private subtypeNames = Clevr.LastFunction.all |> List.map Clevr.LastFunction.name

let score (device: torch.Device) (network: LnmnNetwork.LnmnNetwork) (evaluation: NodeOps.NodeEvaluation) (batchSize: int) (source: Source) =
    use _ = torch.no_grad ()
    let scored =
        [ for indices in Batching.sequentialBatches batchSize source.Examples.Length do
            use _ = torch.NewDisposeScope()
            let b = batch device source indices
            let predicted = network.Forward(b.Input, evaluation).Logits.argmax(-1L).cpu().data<int64>().ToArray()
            for i, p in Array.zip indices predicted do
                let e = source.Examples.[i]
                yield
                    { Evaluation.Predicted = int p
                      Evaluation.Answer = e.Answer
                      Evaluation.Category = e.Category |> Option.map Clevr.Category.name |> Option.defaultValue "(no program)"
                      Evaluation.Subtype = e.LastFunction |> Option.map Clevr.LastFunction.name |> Option.defaultValue "(no program)" } ]
    Evaluation.breakdown categoryNames subtypeNames scored

/// Soft and hard-max α, as a Markdown table and the two breakdowns. A network without α is scored
/// once: its hard-max breakdown is its soft one.
let softAndHardMax device (network: LnmnNetwork.LnmnNetwork) batchSize source =
    let soft = score device network NodeOps.NodeEvaluation.soft batchSize source
    if not (Lnmn.Core.Specs.ModelSpec.hasAlpha network.Spec) then Evaluation.markdown [ "no α (hard-max = soft)", soft ], soft, soft
    else
        let hard = score device network NodeOps.NodeEvaluation.hardMax batchSize source
        Evaluation.markdown [ "soft α", soft; "hard-max α", hard ], soft, hard

/// Paper Table 7: each op removed from every node (softmax renormalised over the other five), then
/// the split scored again; the first row is the model as trained.
let opAblation device network batchSize source =
    let row name disabled = name, score device network { NodeOps.NodeEvaluation.soft with DisabledOps = disabled } batchSize source
    row "original model" [] :: [ for op in Lnmn.Core.Specs.NodeOp.all -> row $"without {Lnmn.Core.Specs.NodeOp.name op}" [ op ] ]

/// One row per ablation, columns overall and the categories, as in paper Table 7.
let opAblationTable (rows: (string * Evaluation.Breakdown) list) : Table.Table =
    match rows with
    | [] -> { Columns = []; Rows = [] }
    | (_, first) :: _ ->
        let categories = first.ByCategory |> List.map (fun c -> c.Name)
        let cell (b: Evaluation.Breakdown) name =
            Table.Number(b.ByCategory |> List.tryFind (fun c -> c.Name = name) |> Option.map Evaluation.Accuracy.percent |> Option.defaultValue nan, 2)
        { Columns = "ops" :: "overall" :: categories
          Rows = [ for name, b in rows -> Table.Text name :: Table.Number(Evaluation.Accuracy.percent b.Overall, 2) :: List.map (cell b) categories ] }

let opAblationMarkdown rows = Table.markdown (opAblationTable rows)

/// Grounding (`Lnmn.Analysis.Grounding`) on a split of a dataset directory that has scenes and
/// programs; None when it has neither or no question opens with a filter.
let grounding device (network: LnmnNetwork.LnmnNetwork) batchSize (source: Source) (dataDir: string) (split: string) =
    let scenesPath = DatasetLayout.scenesFile dataDir split
    if not (IO.File.Exists scenesPath) then None
    else
        let scenes = ClevrJson.readScenes scenesPath |> Seq.map (fun s -> s.ImageIndex, s) |> dict
        let programs =
            ClevrJson.readQuestions (DatasetLayout.questionsFile dataDir split)
            |> Seq.choose (fun q -> q.Program |> Option.map (fun p -> q.Index, p))
            |> dict
        let gridSize = network.Spec.Dims.GridWidth
        use _ = torch.no_grad ()
        [ for indices in Batching.sequentialBatches batchSize source.Examples.Length do
            use _ = torch.NewDisposeScope()
            let maps = network.Forward((batch device source indices).Input, NodeOps.NodeEvaluation.soft).AttentionMaps
            let steps, cellCount = maps.shape.[1], maps.shape.[2] * maps.shape.[3]
            let values = maps.cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
            for b, i in Array.indexed indices do
                let e = source.Examples.[i]
                match scenes.TryGetValue e.ImageIndex, programs.TryGetValue e.QuestionIndex with
                | (true, scene), (true, program) ->
                    match Lnmn.Analysis.Grounding.firstFilterTargets scene program with
                    | Some objects ->
                        let targets = Lnmn.Analysis.Grounding.cells gridSize scene objects
                        let map t = Array.sub values (int ((int64 b * steps + int64 t) * cellCount)) (int cellCount)
                        yield [ for t in 0 .. int steps - 1 -> Lnmn.Analysis.Grounding.massOn gridSize (map t) targets ],
                              float targets.Count / float cellCount
                    | None -> ()
                | _ -> () ]
        |> Lnmn.Analysis.Grounding.summarise
