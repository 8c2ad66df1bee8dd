/// Where an LNMN-11 training step's time goes at the built-in size, batch 64: each phase of a weight
/// step and of an α step as `Steps` runs them, and each part of the network, forward and backward,
/// on its own with inputs of the real shapes. Every round runs everything once (interleaved, so a
/// busy machine slows all rows alike); a row is its minimum over the rounds.
module Lnmn.Bench.Profile

open System.Diagnostics
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training

/// Seconds per row name, the minimum over the laps recorded under it: this process's CPU time
/// with one thread (other load hardly moves it), the wall clock with more.
type private Laps() =
    let best = System.Collections.Generic.Dictionary<string, float>()
    let order = ResizeArray<string>()
    let now () = if torch.get_num_threads () = 1 then Timing.processCpuSeconds () else Stopwatch.GetTimestamp() |> float |> fun t -> t / float Stopwatch.Frequency
    let mutable started = now ()
    member _.Start() = started <- now ()
    member _.Lap(name: string) =
        let s = now () - started
        if not (best.ContainsKey name) then order.Add name; best.[name] <- s
        else best.[name] <- min best.[name] s
        started <- now ()
    member _.Rows = [ for name in order -> name, best.[name] ]

let private leaf (shape: int64 list) = torch.randn(Array.ofList shape).requires_grad_(true)

/// A weight step (`alpha` false) or an α step, phase by phase, with the same calls as `Steps`.
let private step (laps: Laps) (alpha: bool) (training: TrainingSpec.TrainingSpec) (state: Steps.TrainingState) (batch: Steps.LabelledBatch) =
    let prefix = if alpha then "α step: " else "weight step: "
    let lap name = laps.Lap(prefix + name)
    let frozen, optimiser =
        if alpha then state.Network.WeightParameters(), state.AlphaOptimiser
        else state.Network.AlphaParameters(), state.WeightOptimiser
    laps.Start()
    let scope = torch.NewDisposeScope()
    Steps.withFrozen frozen (fun () ->
        lap "requires_grad off"
        optimiser.zero_grad ()
        lap "zero_grad"
        let result = Steps.forward state.Network batch.Input
        lap "forward"
        let ce = torch.nn.functional.cross_entropy(result.Logits, batch.Answers)
        let loss =
            if alpha then Objectives.alphaLoss training.LambdaOp ce [ for a in state.Network.AlphaParameters() -> a :> torch.Tensor ]
            else Objectives.weightLoss training.EntropyScaling 1.0 ce result.ModuleWeights
        lap "loss"
        loss.backward ()
        lap "loss.backward()"
        let m = Steps.metrics loss ce result batch
        lap "metrics (.item() calls)"
        if not alpha then
            Steps.gradientNorms state.Network |> ignore
            lap "gradient norms per part"
        Steps.stepIfFinite optimiser m |> ignore
        lap "optimiser.step()"
        m) |> ignore
    lap "requires_grad on"
    scope.Dispose()
    lap "dispose scope"

/// The network's parts on their own, each forward then backward of the sum of its outputs.
type private Parts(spec: ModelSpec, network: LnmnNetwork.LnmnNetwork, batch: Steps.LabelledBatch) =
    let d = spec.Dims
    let B, H, W, D, q = 64L, int64 d.GridHeight, int64 d.GridWidth, int64 d.MapDim, int64 (ModelDims.questionDim d)
    let encoder = new QuestionEncoder.QuestionEncoder(d.Vocabulary, d.EmbedDim, d.LstmHidden)
    let controller = new Controller.Controller(d.Steps, int q, spec.Modules.Length)
    let kb =
        torch.nn.Sequential(
            torch.nn.Conv2d(int64 (d.InputChannels + PositionMap.channels), int64 d.KbDim, 1L), torch.nn.ELU(),
            torch.nn.Conv2d(int64 d.KbDim, int64 d.KbDim, 1L), torch.nn.Conv2d(int64 d.KbDim, D, 1L))
    let classifier = torch.nn.Sequential(torch.nn.Linear(q + int64 d.MemDim, 512L), torch.nn.ELU(), torch.nn.Linear(512L, int64 d.Answers))
    let modules: StepModules.StepModules = { Spec = spec; Groups = network.CellGroups; Concats = []; Hands = []; NoOps = 1 }
    let S = batch.Input.Tokens.shape.[1]

    member _.Run(laps: Laps) =
        let timed (name: string) (forward: unit -> torch.Tensor) =
            use _ = torch.NewDisposeScope()
            laps.Start()
            let out = forward ()
            laps.Lap(name + " forward")
            out.sum().backward ()
            laps.Lap(name + " backward")
        timed "encoder (embedding + 2 LSTMs)" (fun () ->
            let e = encoder.Encode(batch.Input.Tokens, batch.Input.Lengths)
            e.Words.sum() + e.Question.sum())
        timed "controller, T steps" (fun () ->
            let question, words = leaf [ B; q ], leaf [ B; S; q ]
            let valid = Tensors.lengthMask batch.Input.Lengths S
            let outs =
                List.scan (fun (text: torch.Tensor) t -> (controller.Step(t, question, words, valid, text)).Text) (controller.InitialText B) [ 0 .. d.Steps - 1 ]
            torch.stack(Array.ofList outs).sum())
        timed "kb convs + img projection" (fun () ->
            kb.call(leaf [ B; int64 (d.InputChannels + PositionMap.channels); H; W ]).permute(0L, 2L, 3L, 1L).contiguous())
        let cellInputs () : CellGroup.CellInputs =
            { Image = leaf [ B; H; W; D ]; TextMap = leaf [ B; D ]; Memory = leaf [ B; int64 d.MemDim ]
              Attention1 = leaf [ B; H; W ]; Attention2 = Some(leaf [ B; H; W ]); Question = leaf [ B; q ] }
        let prepared () = FusedCells.prepare NodeOps.NodeEvaluation.soft network.CellGroups
        for name, arithmetic in [ "node kernel", NodeOps.Kernel; "torch's composed ops", NodeOps.Composed ] do
            timed $"cells (fused node chain + outputs, {name}), T steps" (fun () ->
                let p = FusedCells.prepare { NodeOps.NodeEvaluation.soft with Arithmetic = arithmetic } network.CellGroups
                [ for _ in 1 .. d.Steps ->
                      let attention, answer = FusedCells.apply p (cellInputs ())
                      attention.Value.sum() + answer.Value.sum() ]
                |> List.reduce (+))
        // The kernels alone at the cells' shapes: what of the cells' time is node arithmetic.
        let k = int64 (network.CellGroups |> List.sumBy (fun g -> g.Count))
        let attentionCells = network.CellGroups |> List.filter (fun g -> g.Kind.Role = Attention) |> List.sumBy (fun g -> int64 g.Count)
        for name, mix, width in [ "each-op", NormaliseEachOp, 6L; "the paper's", MixThenNormalise, 4L ] do
            // Inputs made before the lap starts: drawing a (B, k, H, W, D) leaf costs as much as the kernel.
            let inputs () = [ for _ in 1 .. d.Steps -> leaf [ k; width ], leaf [ B; 1L; H; W; D ], leaf [ B; k; H; W; 1L ], leaf [ B; k; H; W; D ] ]
            let sumOver (f: torch.Tensor * torch.Tensor * torch.Tensor * torch.Tensor -> torch.Tensor) xs = xs |> List.map f |> List.reduce (+)
            let nodes = inputs ()
            timed $"image node kernel alone ({name} node, k = {k}), T steps" (fun () ->
                nodes |> sumOver (fun (w, image, map, _) -> (NodeKernel.mix 1 mix w image map).sum()))
            let lasts = inputs ()
            let text, attentionWeights, pooling = leaf [ B; 1L; 1L; 1L; D ], leaf [ attentionCells; D ], leaf [ B; 1L; H * W ]
            timed $"last node + readout kernel alone ({name} node), T steps" (fun () ->
                lasts |> sumOver (fun (w, _, _, imageNode) ->
                    let logits, sums = ReadoutKernel.readout 1 mix w imageNode text attentionWeights pooling
                    logits.sum() + sums.sum()))
            for w, image, map, node in nodes @ lasts do for t in [ w; image; map; node ] do t.Dispose()
        let answerCells = k - attentionCells
        timed "answer cells' pooling and output layer alone, T steps" (fun () ->
            let p = prepared ()
            [ for _ in 1 .. d.Steps ->
                  let inputs = cellInputs ()
                  match p.Answer with
                  | Some(weight, bias) ->
                      let _, pooled = CellGroup.answerPooling p.AnswerPooling p.AnswerArities p.AnswerGate inputs
                      (CellGroup.answerOutput weight bias inputs (pooled (leaf [ B; answerCells; 1L; D ]))).sum()
                  | None -> torch.zeros(1) ]
            |> List.reduce (+))
        timed "node coefficients from α (FusedCells.prepare)" (fun () ->
            let p = prepared ()
            p.Image.Coefficients.sum() + p.Text.Coefficients.sum())
        timed "cells + stack/memory folding (FusedStep), T steps" (fun () ->
            let p = prepared ()
            let L = int64 d.StackLength
            [ for _ in 1 .. d.Steps ->
                  let inputs: StepModules.StepInputs =
                      { Weights = (leaf [ B; int64 spec.Modules.Length ]).softmax(-1L)
                        Cells = Some(cellInputs ())
                        Hand = { Stack = leaf [ B; L; H; W ]; Pointer = (leaf [ B; L ]).softmax(-1L); Knowledge = leaf [ B; H; W; 1L ]
                                 Text = leaf [ B; q ]; Memory = leaf [ B; int64 d.MemDim ] } }
                  let o = FusedStep.apply modules (Some p) inputs
                  o.Stack.sum() + o.Pointer.sum() + o.Memory.sum() ]
            |> List.reduce (+))
        timed "classifier" (fun () -> classifier.call(leaf [ B; q + int64 d.MemDim ]))

let run (rounds: int) =
    let spec = Timing.builtInSpec Lnmn.Train.Configs.Lnmn
    let training = TrainingSpec.TrainingSpec.paper
    let state = Steps.createState training (LnmnNetwork.compile spec)
    let batch = TrainingBench.labelled 64 spec.Dims
    let parts = Parts(spec, state.Network, batch)
    let laps = Laps()
    let whole = Laps()
    for _ in 0 .. rounds do
        step laps false training state batch
        step laps true training state batch
        parts.Run laps
        whole.Start()
        Steps.weightStep training 1.0 state batch |> ignore
        whole.Lap "weight step (Steps.weightStep)"
        Steps.alphaStep training state batch |> ignore
        whole.Lap "α step (Steps.alphaStep)"
    let rows = whole.Rows @ laps.Rows
    let parameters = state.Network.WeightParameters().Length
    Lnmn.Analysis.Table.ofText
        [ $"LNMN-11, {Timing.builtInName ()}, batch 64 ({parameters} weight tensors)"; "ms (min of rounds)" ]
        [ for name, s in rows -> [ name; sprintf "%.2f" (1000.0 * s) ] ]
    |> Lnmn.Analysis.Table.markdown
