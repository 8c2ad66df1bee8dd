module Lnmn.Tests.NetworkTests
