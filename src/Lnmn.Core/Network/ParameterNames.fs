/// The names an LNMN network's parameters are exported under (docs/weights.md): fixed by the spec,
/// not by how modules happen to be registered inside TorchSharp. Shared parts keep their state_dict
/// keys (the LSTMs' match PyTorch's nn.LSTM); cell groups are named by kind, not by position.
module Lnmn.Core.Network.ParameterNames

open TorchSharp
open Lnmn.Core.Specs

/// Parameters every LNMN network has, in export order; each is also its state_dict key.
let shared =
    [ "encoder.embedding.weight" ]
    @ [ for direction in [ "forward"; "backward" ] do
            for p in [ "weight_ih_l0"; "weight_hh_l0"; "bias_ih_l0"; "bias_hh_l0" ] -> $"encoder.{direction}_lstm.{p}" ]
    @ [ "controller.step_projections"
        "controller.shared_bias"
        "controller.initial_text"
        "controller.combine.weight"
        "controller.combine.bias"
        "controller.module_scores.weight"
        "controller.word_scores.weight"
        "controller.word_scores.bias"
        "kb.conv1.weight"
        "kb.conv1.bias"
        "kb.conv2.weight"
        "kb.conv2.bias"
        "image_projection.weight"
        "image_projection.bias"
        "text_projection.weight"
        "text_projection.bias" ]

let private classifier = [ "classifier.hidden.weight"; "classifier.hidden.bias"; "classifier.out.weight"; "classifier.out.bias" ]

/// attention_3in, attention_4in, answer_3in, answer_4in.
let cellKindName (kind: CellKind) = (CellKind.name kind).Replace('-', '_')

/// (exported name, state_dict key) of every parameter of an LNMN network compiled from `spec`, or
/// why the spec has no exported names (hand-designed and concatenation modules have none).
let ofSpec (spec: ModelSpec) : Result<(string * string) list, string> =
    match spec.Modules |> List.tryFind (function Hand _ | Concat _ -> true | Generic _ | NoOp -> false) with
    | Some _ -> Error "only LNMN models (generic cells) have exported names; this one has hand-designed or concatenation modules"
    | None ->
        let groups, _ = LnmnNetwork.groupModules spec.Modules
        let cells =
            groups |> List.indexed |> List.collect (fun (i, (kind, _)) ->
                let gate = if CellGroup.hasGate (defaultArg spec.AnswerPooling SpatialSum) kind.Role then [ "gate_weight"; "gate_bias" ] else []
                [ for p in [ "alpha"; "out_weight"; "out_bias" ] @ gate -> $"cells.{cellKindName kind}.{p}", $"cell_groups.{i}.{p}" ])
        Ok([ for n in shared -> n, n ] @ cells @ [ for n in classifier -> n, n ])

/// The network's parameters under their exported names, in export order.
let export (network: LnmnNetwork.LnmnNetwork) : Result<(string * torch.Tensor) list, string> =
    ofSpec network.Spec
    |> Result.map (fun names ->
        let state = network.state_dict()
        [ for name, key in names -> name, state.[key] ])

let private shapeText (shape: int64[]) = "[" + (shape |> Array.map string |> String.concat ", ") + "]"

/// Copies tensors keyed by exported name into the network. Every name must be there with the
/// network's shape, and nothing else; the error names the first that is not.
let import (network: LnmnNetwork.LnmnNetwork) (tensors: Map<string, torch.Tensor>) : Result<unit, string> =
    ofSpec network.Spec
    |> Result.bind (fun names ->
        let state = network.state_dict()
        let expected = names |> List.map fst |> set
        let problem =
            names
            |> List.tryPick (fun (name, key) ->
                match tensors.TryFind name with
                | None -> Some $"no parameter {name}"
                | Some t when t.shape <> state.[key].shape ->
                    Some $"{name} has shape {shapeText t.shape}, this spec's network has {shapeText state.[key].shape}"
                | Some _ -> None)
            |> Option.orElse (tensors |> Map.tryFindKey (fun name _ -> not (expected.Contains name)) |> Option.map (sprintf "unexpected parameter %s"))
        match problem with
        | Some p -> Error p
        | None ->
            use _ = torch.no_grad ()
            for name, key in names do
                let target = state.[key]
                target.copy_(tensors.[name].to_type(target.dtype).``to``(target.device)) |> ignore
            Ok())
