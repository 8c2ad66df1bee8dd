/// The paper's Table 2 ablation "concatenate all inputs followed by a conv layer": k cells of one
/// kind that see exactly what generic cells see (`CellGroup.CellInputs`) and have the same output
/// layer, with the nodes replaced by one 1×1 conv over the channel concatenation
/// [img ; a1 (; a2) ; txt broadcast over H×W] → map_dim, L2-normalised over channels as a last node
/// is. No α.
module Lnmn.Core.Network.ConcatCells

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network.CellGroup

/// Channels of the concatenation: img, one per attention map, txt.
let inputChannels (kind: CellKind) (dims: ModelDims) =
    let maps = match kind.Arity with ThreeInput -> 1 | FourInput -> 2
    dims.MapDim + maps + dims.MapDim

/// (B, H, W, C) channels-last concatenation of a cell's inputs, C = `inputChannels`.
let concatenate (kind: CellKind) (inputs: CellInputs) =
    let image = inputs.Image
    let shape = image.shape
    let maps =
        match kind.Arity, inputs.Attention2 with
        | ThreeInput, _ -> [ inputs.Attention1 ]
        | FourInput, Some second -> [ inputs.Attention1; second ]
        | FourInput, None -> invalidArg "inputs" "a 4-input cell needs two attention maps"
    let text = inputs.TextMap.unsqueeze(1L).unsqueeze(1L).expand(shape.[0], shape.[1], shape.[2], -1L)
    torch.cat(Array.ofList ([ image ] @ (maps |> List.map (fun a -> a.unsqueeze(-1L))) @ [ text ]), -1L)

type ConcatGroup(kind: CellKind, count: int, dims: ModelDims) as this =
    inherit torch.nn.Module($"concat_{CellKind.name kind}")
    let k, mapDim = int64 count, int64 dims.MapDim
    let channels = inputChannels kind dims
    let convWeight = Tensors.uniformParameter [| k; mapDim; int64 channels |] channels
    let convBias = Tensors.uniformParameter [| k; mapDim |] channels
    let outWeight, outBias = outputParameters SpatialSum kind count dims
    do
        this.register_parameter("conv_weight", convWeight)
        this.register_parameter("conv_bias", convBias)
        this.register_parameter("out_weight", outWeight)
        this.register_parameter("out_bias", outBias)

    member _.Kind = kind
    member _.Count = count

    /// The authors' code: the fusing 1×1 conv xavier-uniform with N(0,1) biases, the output layer as
    /// a cell's.
    member _.InitialiseAsAuthors() =
        use _ = torch.no_grad ()
        for cell in 0L .. k - 1L do torch.nn.init.xavier_uniform_ convWeight.[cell] |> ignore
        torch.nn.init.normal_(convBias, 0.0, 1.0) |> ignore
        initialiseOutputAsAuthors kind.Role outWeight outBias

    /// What replaces the last node: (B, k, H, W, D).
    member _.Fused(inputs: CellInputs) : torch.Tensor =
        let conv = torch.einsum("bhwi,koi->bkhwo", concatenate kind inputs, convWeight) + convBias.unsqueeze(1L).unsqueeze(1L)
        Tensors.l2Normalize -1L conv

    /// Attention cells: (B, k, H, W) logits. Answer cells: (B, k, mem_dim).
    member this.Forward(inputs: CellInputs) : torch.Tensor = output SpatialSum kind.Role (List.replicate count kind.Arity) None outWeight outBias inputs (this.Fused inputs)
