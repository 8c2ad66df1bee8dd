/// `Recompute.apply` against the function it wraps: same outputs, and the same gradient for every
/// input that needs one, through a chain of two recomputed nodes.
module Lnmn.Tests.RecomputeTests

open Expecto
open TorchSharp
open Lnmn.Core.Network
open Lnmn.Tests.TestUtil

let private node (inputs: torch.Tensor list) =
    match inputs with
    | [ weights; x1; x2 ] -> [ NodeOpsTests.sixOpNode (weights.softmax(-1L)) x1 x2 ]
    | _ -> failwith "three inputs"

/// Two nodes in a chain and a loss that is not linear in them; the gradients of every leaf.
let private run (wrap: (torch.Tensor list -> torch.Tensor list) -> torch.Tensor list -> torch.Tensor list) (leaves: torch.Tensor list) =
    let alpha, image, map, text = leaves.[0], leaves.[1], leaves.[2], leaves.[3]
    let first = (wrap node [ alpha.narrow(0L, 0L, 3L); image; map ]).Head
    let last = (wrap node [ alpha.narrow(0L, 3L, 3L); first; text ]).Head
    ((last * last.detach().cos()).sum() + last.square().sum()).backward ()
    last.detach(), [ for x in leaves -> if isNull x.grad then None else Some(x.grad.clone()) ]

[<Tests>]
let tests =
    testList "recompute" [
        test "a chain of recomputed nodes: same outputs and gradients as the nodes themselves" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 7L |> ignore
            let shapes = [ [| 6L; 6L |]; [| 2L; 1L; 3L; 3L; 4L |]; [| 2L; 1L; 3L; 3L; 1L |]; [| 2L; 1L; 1L; 1L; 4L |] ]
            let values = [ for s in shapes -> torch.randn(s) ]
            // The one-channel map needs no gradient: its slot gets none.
            let leaves () = List.mapi (fun i (v: torch.Tensor) -> v.clone().requires_grad_(i <> 2)) values
            let direct, directGrads = run (fun f xs -> f xs) (leaves ())
            let recomputed, recomputedGrads = run Recompute.apply (leaves ())
            expectAllClose 1e-6 recomputed direct "outputs"
            for expected, actual in List.zip directGrads recomputedGrads do
                match expected, actual with
                | Some e, Some a -> expectAllClose 1e-6 a e "gradient"
                | None, None -> ()
                | _ -> failtest "a gradient on one side only"
        }
        // Shown to fail with Recompute's backward dropping the gradient of its first input (column A):
        // α's gradient then differs, which no node below the threshold would show.
        test "mixColumns above the recompute threshold: values and gradients of the six-op node" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 8L |> ignore
            let shape = [| 1L; 2L; 32L; 32L; 2100L |]
            Expect.isGreaterThan (Array.reduce (*) shape) 4_194_304L "4,300,800 output elements, above NodeOps' 1 <<< 22"
            let alpha = torch.randn([| 2L; 6L |])
            for x2Shape, what in [ shape, "two maps"; [| 1L; 1L; 1L; 1L; 2100L |], "a map and a text vector" ] do
                let x1, x2, upstream = torch.randn(shape), torch.randn(x2Shape), torch.randn(shape)
                let run (node: torch.Tensor -> torch.Tensor -> torch.Tensor -> torch.Tensor) =
                    let leaves = [ alpha; x1; x2 ] |> List.map (fun t -> t.clone().requires_grad_(true))
                    let y = node (leaves.[0].softmax(-1L)) leaves.[1] leaves.[2]
                    (y * upstream).sum().backward ()
                    y.detach() :: [ for l in leaves -> l.grad ]
                let reference = run NodeOpsTests.sixOpNode
                // Composed: the recomputed path; Kernel: the node kernel at the same size.
                for arithmetic in [ NodeOps.Composed; NodeOps.Kernel ] do
                    let fused = run (fun weights a b -> NodeOps.mixNode arithmetic (NodeOps.coefficients weights) a b)
                    for name, actual, expected in List.zip3 [ "values"; "∂α"; "∂x1"; "∂x2" ] fused reference do
                        // float32 sums over up to 4.3M terms: a tolerance relative to the largest entry
                        let scale = expected.abs().max().item<float32>() |> float
                        expectAllClose (1e-4 * scale) actual expected $"{arithmetic}, {what}: {name}"
        }
        test "without grad mode it is the function" {
            use _ = torch.NewDisposeScope()
            use _ = torch.no_grad ()
            let xs = [ torch.randn([| 6L |]); torch.randn([| 1L; 1L; 2L; 2L; 3L |]); torch.randn([| 1L; 1L; 2L; 2L; 3L |]) ]
            expectAllClose 0.0 (Recompute.apply node xs).Head (node xs).Head "outputs"
        }
    ]
