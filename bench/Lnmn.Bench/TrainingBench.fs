/// Training throughput: one α step against one weight step, and questions/s of a whole training
/// step (α step + weight step, Algorithm 2), at the built-in default size and the paper's.
module Lnmn.Bench.TrainingBench

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training

let private batchSize = 64
let private questionLength = 14

let private labelled (d: ModelDims) : Steps.LabelledBatch =
    { Input =
        { Tokens = torch.randint(2L, int64 d.Vocabulary, [| int64 batchSize; int64 questionLength |])
          Lengths = torch.tensor(Array.create batchSize (int64 questionLength))
          Features = torch.randn([| int64 batchSize; int64 d.InputChannels; int64 d.GridHeight; int64 d.GridWidth |]) }
      Answers = torch.randint(0L, int64 d.Answers, [| int64 batchSize |]) }

let run (quick: bool) =
    let sizes =
        [ Timing.builtInName, Timing.builtInDims, TrainingSpec.TrainingSpec.paper, (if quick then 3 else 10)
          if not quick then "paper (1024×14×14, map 384)", ModelDims.paper 28 90, TrainingSpec.TrainingSpec.paper, 1 ]
    let rows =
        [ for name, dims, training, repeats in sizes do
            let network = LnmnNetwork.compile (ModelSpec.lnmn Ablation11 dims)
            let state = Steps.createState training network
            let trainBatch, archBatch = labelled dims, labelled dims
            let weight = Timing.medianSeconds 1 repeats (fun () -> Steps.weightStep training 1.0 state trainBatch |> ignore)
            let alpha = Timing.medianSeconds 1 repeats (fun () -> Steps.alphaStep training state archBatch |> ignore)
            [ name; sprintf "%.3f" weight; sprintf "%.3f" alpha; sprintf "%.2f" (alpha / weight)
              sprintf "%.1f" (float batchSize / (weight + alpha)) ] ]
    Timing.markdownTable
        [ "LNMN-11, batch 64"; "weight step (s)"; "α step (s)"; "α / weight"; "training questions/s (α + weight step)" ]
        rows
