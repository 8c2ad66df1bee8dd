/// The 128-channel sin/cos position map appended to the image features, so that modules can tell
/// where on the grid a feature is. 32 periods 10000^linspace(0, 1, 32); channels are
/// [sin h, cos h, sin w, cos w], each 32 wide.
module Lnmn.Core.Network.PositionMap

open TorchSharp


let channels = 128

/// (128, H, W).
let create (height: int) (width: int) : torch.Tensor =
    let periods = torch.pow(10000.0, torch.linspace(0.0, 1.0, 32L)) // (32)
    let angles (n: int) = torch.arange(float n).unsqueeze(0L) / periods.unsqueeze(1L) // (32, n)
    let h = angles height |> fun a -> a.unsqueeze(2L).expand(32L, int64 height, int64 width)
    let w = angles width |> fun a -> a.unsqueeze(1L).expand(32L, int64 height, int64 width)
    torch.cat([| h.sin(); h.cos(); w.sin(); w.cos() |], 0L).contiguous()
