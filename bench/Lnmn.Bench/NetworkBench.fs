/// Forward + backward time per batch of the LNMN network, with the achieved FLOP/s next to the
/// machine's matrix-multiply FLOP/s measured in the same run.
module Lnmn.Bench.NetworkBench

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Analysis
open Lnmn.Core.Network
open Lnmn.Core.Network.LnmnNetwork

let private questionLength = 20
let private batchSize = 64

let private randomBatch (d: ModelDims) =
    { Tokens = torch.randint(2L, int64 d.Vocabulary, [| int64 batchSize; int64 questionLength |])
      Lengths = torch.tensor(Array.create batchSize (int64 questionLength))
      Features = torch.randn([| int64 batchSize; int64 d.InputChannels; int64 d.GridHeight; int64 d.GridWidth |]) }

/// FLOP/s of a float32 n×n matrix product.
let matmulFlops (n: int) =
    use _ = torch.NewDisposeScope()
    let a, b = torch.randn(int64 n, int64 n), torch.randn(int64 n, int64 n)
    let seconds = Timing.medianSeconds 2 5 (fun () -> torch.mm(a, b).Dispose())
    2.0 * float n ** 3.0 / seconds

/// Median seconds of one forward + backward pass on a batch of 64.
let forwardBackwardSeconds (spec: ModelSpec) (repeats: int) =
    let net = compile spec
    let batch = randomBatch spec.Dims
    let answers = torch.randint(0L, int64 spec.Dims.Answers, [| int64 batchSize |])
    Timing.medianSeconds 1 repeats (fun () ->
        use _ = torch.NewDisposeScope()
        net.zero_grad ()
        let logits = net.Forward(batch, NodeOps.NodeEvaluation.soft).Logits
        torch.nn.functional.cross_entropy(logits, answers).backward ())

let run (quick: bool) =
    let sizes =
        [ Timing.builtInName (), Timing.builtInSpec Lnmn.Train.Configs.Lnmn, (if quick then 3 else 10)
          if not quick then "paper (1024×14×14, map 384)", Timing.paperSpec Lnmn.Train.Configs.Lnmn, 3 ]
    let peak = matmulFlops 1024
    let rows =
        [ for name, spec, repeats in sizes do
            let seconds = forwardBackwardSeconds spec repeats
            let flops = FlopCount.forwardBackward spec batchSize questionLength
            [ name; sprintf "%.3f" seconds; sprintf "%.1f" (float batchSize / seconds); sprintf "%.2f" (flops / 1e9)
              sprintf "%.1f" (flops / seconds / 1e9); sprintf "%.1f" (peak / 1e9); sprintf "%.1f%%" (100.0 * flops / seconds / peak) ] ]
    Table.ofText
        [ "LNMN-11, batch 64, T=5"; "s / batch (fwd+bwd)"; "questions/s"; "GFLOP / batch"; "GFLOP/s"; "matmul GFLOP/s"; "of matmul" ]
        rows
    |> Table.markdown
