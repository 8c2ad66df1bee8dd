namespace Lnmn.Core.Data

/// CLEVR's nine template groups.
type TemplateGroup =
    | ZeroHop
    | OneHop
    | TwoHop
    | ThreeHop
    | SingleAnd
    | SingleOr
    | SameRelate
    | Comparison
    | CompareInteger

module TemplateGroup =
    let all = [ ZeroHop; OneHop; TwoHop; ThreeHop; SingleAnd; SingleOr; SameRelate; Comparison; CompareInteger ]

    let name g =
        match g with
        | ZeroHop -> "zero_hop" | OneHop -> "one_hop" | TwoHop -> "two_hop" | ThreeHop -> "three_hop"
        | SingleAnd -> "single_and" | SingleOr -> "single_or" | SameRelate -> "same_relate"
        | Comparison -> "comparison" | CompareInteger -> "compare_integer"
