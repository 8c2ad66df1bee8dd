/// The readout kernel (`ReadoutKernel`) against the last node in torch's composed ops read as the
/// output layers read it, in values and every gradient, and against central differences of that
/// composed readout in float64.
module Lnmn.Tests.ReadoutKernelTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Tests.TestUtil

/// Attention logits (B, k_att, P) and answer sums (B, k − k_att, S, C) through torch's ops, for
/// nodes of op weights (k, 6) mixing as `mix` says.
let private composedReadout (mix: NodeMix) (opWeights: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (weights: torch.Tensor) (pooling: torch.Tensor) =
    let node = NodeOps.mixColumns NodeOps.Composed (NodeOps.columnsOf mix opWeights) x1 x2 // (B, k, H, W, C)
    let s = node.shape
    let flat = node.reshape(s.[0], s.[1], -1L, s.[4])
    let k = weights.shape.[0]
    torch.einsum("bkpc,kc->bkp", flat.narrow(1L, 0L, k), weights),
    torch.einsum("bkpc,bsp->bksc", flat.narrow(1L, k, s.[1] - k), pooling)

let private kernelReadout (mix: NodeMix) (opWeights: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (weights: torch.Tensor) (pooling: torch.Tensor) =
    let nodeMix, parameters = NodeOps.kernelOperands (NodeOps.columnsOf mix opWeights)
    Expect.isTrue (ReadoutKernel.handles parameters x1 x2 weights pooling) "the kernel takes these shapes"
    ReadoutKernel.readout (torch.get_num_threads ()) nodeMix parameters x1 x2 weights pooling

/// Values and the gradients of Σ logits ⊙ R1 + Σ sums ⊙ R2 for α, x1, x2, the weights and the
/// pooling, through one readout; the inputs `frozen` picks need no gradient (theirs reads zero).
let private runFrozen (frozen: int -> bool) (readout: torch.Tensor -> torch.Tensor -> torch.Tensor -> torch.Tensor -> torch.Tensor -> torch.Tensor * torch.Tensor) (alpha: torch.Tensor) (inputs: torch.Tensor list) (r1: torch.Tensor) (r2: torch.Tensor) =
    let leaf (t: torch.Tensor) = t.detach().clone().requires_grad_(true)
    let alpha, inputs = leaf alpha, List.mapi (fun i (t: torch.Tensor) -> if frozen i then t.detach().clone() else leaf t) inputs
    match inputs with
    | [ x1; x2; weights; pooling ] ->
        let logits, sums = readout (alpha.softmax(-1L)) x1 x2 weights pooling
        ((logits * r1).sum() + (sums * r2).sum()).backward ()
        let gradient (t: torch.Tensor) = if isNull t.grad then torch.zeros_like t else t.grad.clone()
        [ "logits", logits.detach(); "sums", sums.detach(); "dα", gradient alpha ]
        @ List.map2 (fun name t -> name, gradient t) [ "dx1"; "dx2"; "d weights"; "d pooling" ] inputs
    | _ -> invalidArg "inputs" "x1, x2, weights, pooling"

let private run = runFrozen (fun _ -> false)

let private draws (batch: int64) (cells: int64) (attentionCells: int64) (h: int64) (w: int64) (channels: int64) (maps: int64) =
    let answerCells = cells - attentionCells
    torch.randn(cells, 6L),
    [ torch.randn([| batch; cells; h; w; channels |]); torch.randn([| batch; 1L; 1L; 1L; channels |])
      torch.randn(attentionCells, channels); torch.randn(batch, maps, h * w).softmax(-1L) ],
    torch.randn(batch, attentionCells, h * w), torch.randn([| batch; answerCells; maps; channels |])

[<Tests>]
let tests =
    testSequenced <| testList "readout kernel" [
        // 12 channels: one vector of 8 and a scalar tail of 4.
        for mix, mixName in [ MixThenNormalise, "paper's nodes"; NormaliseEachOp, "each-op nodes" ] do
            for name, cells, attentionCells, channels, maps in
                [ "attention and answer cells, one pooling map", 5L, 3L, 12L, 1L
                  "attention and answer cells, two pooling maps", 5L, 2L, 12L, 2L
                  "attention cells only", 3L, 3L, 12L, 1L
                  "answer cells only, two pooling maps", 3L, 0L, 12L, 2L
                  "32 channels, no tail", 4L, 2L, 32L, 1L ] do
                test $"{mixName}, {name}: values and gradients as torch's ops, 1 and 2 threads" {
                    use _ = torch.NewDisposeScope()
                    torch.random.manual_seed 21L |> ignore
                    let alpha, inputs, r1, r2 = draws 3L cells attentionCells 3L 2L channels maps
                    let expected = run (composedReadout mix) alpha inputs r1 r2
                    for threads in [ 1; 2 ] do
                        torch.set_num_threads threads
                        for (name, actual), (_, e) in List.zip (run (kernelReadout mix) alpha inputs r1 r2) expected do
                            Expect.equal actual.shape e.shape $"{threads} thread(s): {name}'s shape"
                            // TorchSharp reads no values out of an empty tensor (one role's outputs).
                            if e.numel() > 0L then expectAllClose 1e-5 actual e $"{threads} thread(s): {name}"
                    torch.set_num_threads 1
                }
        for mix in [ MixThenNormalise; NormaliseEachOp ] do
            test $"{mix}: values and gradients do not depend on the thread count, bit for bit (data-parallel runs repeat)" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 24L |> ignore
                let alpha, inputs, r1, r2 = draws 5L 5L 2L 3L 2L 12L 2L
                let at threads =
                    torch.set_num_threads threads
                    let node = // the image node before the readout, as the cells chain them
                        let leaf = inputs.Head.detach().clone().requires_grad_(true)
                        leaf, NodeOps.mixColumns NodeOps.Kernel (NodeOps.columnsOf mix (alpha.softmax(-1L))) leaf inputs.[1]
                    let image, x1 = node
                    let readout opWeights _ x2 weights pooling = kernelReadout mix opWeights x1 x2 weights pooling
                    let results = run readout alpha inputs r1 r2
                    results @ [ "d image", image.grad.clone() ]
                let one, two = at 1, at 2
                torch.set_num_threads 1
                for (name, a), (_, b) in List.zip one two do
                    Expect.equal (values a) (values b) name
            }
        for mix in [ MixThenNormalise; NormaliseEachOp ] do
            for frozen, name in [ set [ 1; 3 ], "x2 and the weights (the α step's)"; set [ 0; 2 ], "x1 and the pooling" ] do
                test $"{mix}: {name} need no gradient: the others' as torch's ops" {
                    use _ = torch.NewDisposeScope()
                    torch.random.manual_seed 23L |> ignore
                    let alpha, inputs, r1, r2 = draws 3L 5L 2L 3L 2L 12L 2L
                    let expected = runFrozen frozen.Contains (composedReadout mix) alpha inputs r1 r2
                    for (name, actual), (_, e) in List.zip (runFrozen frozen.Contains (kernelReadout mix) alpha inputs r1 r2) expected do
                        expectAllClose 1e-5 actual e name
                }
        for mix in [ MixThenNormalise; NormaliseEachOp ] do
            test $"{mix}: values and gradients against central differences of the composed readout in float64" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 22L |> ignore
                let alpha, inputs, r1, r2 = draws 2L 2L 1L 1L 2L 3L 2L
                let float64 (t: torch.Tensor) = t.to_type(torch.float64)
                let loss (all: torch.Tensor list) =
                    match all with
                    | alpha :: [ x1; x2; weights; pooling ] ->
                        let logits, sums = composedReadout mix (alpha.softmax(-1L)) x1 x2 weights pooling
                        ((logits * float64 r1).sum() + (sums * float64 r2).sum()).item<float>()
                    | _ -> invalidArg "all" "α, x1, x2, weights, pooling"
                let all = List.map float64 (alpha :: inputs)
                let h = 1e-6
                let central (index: int) =
                    let size = int (all.[index].numel())
                    Array.init size (fun i ->
                        let shifted (d: float) =
                            all |> List.mapi (fun j t ->
                                if j <> index then t
                                else
                                    let c = t.clone()
                                    c.view(-1L).[int64 i].add_(torch.tensor(d, dtype = torch.float64)) |> ignore
                                    c)
                        (loss (shifted h) - loss (shifted -h)) / (2.0 * h))
                let kernel = run (kernelReadout mix) alpha inputs r1 r2 |> Map.ofList
                let composed64 = run (composedReadout mix) (float64 alpha) (List.map float64 inputs) (float64 r1) (float64 r2) |> Map.ofList
                expectClose 1e-5 kernel.["logits"] (values composed64.["logits"]) "logits"
                expectClose 1e-5 kernel.["sums"] (values composed64.["sums"]) "sums"
                for index, name in List.indexed [ "dα"; "dx1"; "dx2"; "d weights"; "d pooling" ] do
                    expectClose 1e-4 kernel.[name] (central index) name
            }
        test "a float64 node is not the kernel's" {
            use _ = torch.NewDisposeScope()
            let alpha, inputs, _, _ = draws 1L 2L 1L 2L 2L 3L 1L
            match List.map (fun (t: torch.Tensor) -> t.to_type(torch.float64)) inputs with
            | [ x1; x2; weights; pooling ] ->
                let coefficients = NodeOps.coefficients (alpha.softmax(-1L).to_type(torch.float64))
                Expect.isFalse (ReadoutKernel.handles coefficients x1 x2 weights pooling) "the kernel declines float64"
            | _ -> failwith "four inputs"
        }
    ]
