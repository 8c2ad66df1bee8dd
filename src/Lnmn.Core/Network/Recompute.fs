/// A function evaluated with only its inputs kept for backward (gradient checkpointing): forward
/// runs it without recording a graph; backward runs it again on the saved inputs with a graph and
/// back-propagates through that. Values and gradients are those of the function itself (CPU ops are
/// deterministic); what is saved drops from every intermediate to the inputs, at the cost of a
/// second forward. At the paper's size a node's intermediates are the bulk of a step's memory.
module Lnmn.Core.Network.Recompute

open System.Collections.Generic
open TorchSharp

type private Checkpoint() =
    inherit torch.autograd.MultiTensorFunction<Checkpoint>()
    override _.Name = "Recompute"

    // vars: the function, then its tensor inputs.
    override _.forward(ctx, vars) =
        let f = vars.[0] :?> (torch.Tensor list -> torch.Tensor list)
        let inputs = [ for v in Array.tail vars -> v :?> torch.Tensor ]
        ctx.save_data("f", f)
        ctx.save_data("requires_grad", [ for x in inputs -> x.requires_grad ])
        ctx.save_for_backward(List inputs)
        List(Tensors.scoped id (fun () -> f inputs))

    override _.backward(ctx, gradients) =
        let f = ctx.get_data "f" :?> (torch.Tensor list -> torch.Tensor list)
        let requiresGrad = ctx.get_data "requires_grad" :?> bool list
        let leaves = List.map2 (fun (x: torch.Tensor) r -> x.detach().requires_grad_(r)) (List.ofSeq (ctx.get_saved_variables())) requiresGrad
        let wanted = leaves |> List.filter (fun x -> x.requires_grad)
        // The recomputed graph is freed on return; the gradients go to the caller's scope.
        let grads =
            Tensors.scoped (List.ofArray >> List.filter (fun g -> not (isNull g))) (fun () ->
                let outputs =
                    use _ = torch.enable_grad ()
                    f leaves
                let reached = List.zip outputs (List.ofSeq gradients) |> List.filter (fun (y, _) -> y.requires_grad)
                if reached.IsEmpty || wanted.IsEmpty then [||]
                else torch.autograd.grad(Array.ofList (List.map fst reached), Array.ofList wanted, Array.ofList (List.map snd reached), allow_unused = true) |> Array.ofSeq)
        let byLeaf = Dictionary<nativeint, torch.Tensor>()
        List.iteri (fun i (x: torch.Tensor) -> if i < grads.Length then byLeaf.[x.Handle] <- grads.[i]) wanted
        // null for the function's slot and for inputs that need no gradient.
        List<torch.Tensor>(null :: [ for x in leaves -> match byLeaf.TryGetValue x.Handle with | true, g -> g | _ -> null ])

/// f inputs, keeping only `inputs` for backward. Without grad mode, or when no input needs a
/// gradient, it is f inputs.
let apply (f: torch.Tensor list -> torch.Tensor list) (inputs: torch.Tensor list) : torch.Tensor list =
    if torch.is_grad_enabled () && inputs |> List.exists (fun x -> x.requires_grad) then
        Checkpoint.apply(Array.ofList (box f :: List.map box inputs)) |> List.ofSeq
    else f inputs
