/// The authors' code's initialisation of standard layers (its `reset_params`); parameters that
/// are not inside a Linear, Conv2d or LSTM are set by the modules that own them.
module Lnmn.Core.Network.Initialisation

open TorchSharp

/// Convs: xavier-uniform weights, N(0,1) biases. Linears and LSTMs: xavier-normal weights, zero
/// biases. Embeddings keep N(0,1).
let authorsLayers (root: torch.nn.Module) =
    use _ = torch.no_grad ()
    for struct (_, m) in root.named_modules () do
        match m with
        | :? Modules.Conv2d as conv ->
            torch.nn.init.xavier_uniform_ conv.weight |> ignore
            if not (isNull conv.bias) then torch.nn.init.normal_(conv.bias, 0.0, 1.0) |> ignore
        | :? Modules.Linear as linear ->
            torch.nn.init.xavier_normal_ linear.weight |> ignore
            if not (isNull linear.bias) then torch.nn.init.zeros_ linear.bias |> ignore
        | :? Modules.LSTM as lstm ->
            for struct (name, p) in lstm.named_parameters () do
                if name.StartsWith "bias" then torch.nn.init.zeros_ p |> ignore
                else torch.nn.init.xavier_normal_ p |> ignore
        | _ -> ()
