"""A thin SEW-ResNet-18 written as spikingjelly.activation_based.model.sew_resnet writes it (that
module needs torchvision and h5py, which the CPU-only test install leaves out): BasicBlock with
conv1 / bn1 / sn1 / conv2 / bn2 / sn2, a downsample Sequential(conv1x1, norm) + downsample_sn,
``sew_function(identity, out, cnf)``; stem conv-bn-sn-maxpool, four stages of [2, 2, 2, 2] blocks,
adaptive average pool, flatten, fc. Differences from the library's: the stem is conv3x3 and the
max pool 2x2 (stride 2, no padding; the library's 7x7 stem and 3x3/stride-2/padding-1 pool are
for 224x224 images, and overlapping pooling is not in the theory), widths are a parameter (thin
for tests), the norm layer may be None (no batch norm), and an output neuron may follow fc.
Imported by the tests after pytest.importorskip("spikingjelly")."""
from copy import deepcopy

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer, neuron


def sew_function(x, y, cnf):
    if cnf == "ADD":
        return x + y
    if cnf == "AND":
        return x * y
    if cnf == "IAND":
        return x * (1.0 - y)
    raise NotImplementedError


def conv3x3(in_planes, out_planes, stride=1):
    return layer.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return layer.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _norm(norm_layer, planes):
    return nn.Identity() if norm_layer is None else norm_layer(planes)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=None, cnf=None, spiking_neuron=None,
                 **kwargs):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = _norm(norm_layer, planes)
        self.sn1 = spiking_neuron(**deepcopy(kwargs))
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = _norm(norm_layer, planes)
        self.sn2 = spiking_neuron(**deepcopy(kwargs))
        self.downsample = downsample
        if downsample is not None:
            self.downsample_sn = spiking_neuron(**deepcopy(kwargs))
        self.stride = stride
        self.cnf = cnf

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.sn1(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.sn2(out)
        if self.downsample is not None:
            identity = self.downsample_sn(self.downsample(x))
        out = sew_function(identity, out, self.cnf)
        return out


class SEWResNet(nn.Module):
    def __init__(self, layers=(2, 2, 2, 2), widths=(4, 8, 16, 32), in_channels=1, num_classes=10,
                 norm_layer=layer.BatchNorm2d, cnf="ADD", spiking_neuron=neuron.LIFNode, output_neuron=False,
                 maxpool=True, **kwargs):
        super().__init__()
        self._norm_layer = norm_layer
        self.inplanes = widths[0]
        self.conv1 = layer.Conv2d(in_channels, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = _norm(norm_layer, self.inplanes)
        self.sn1 = spiking_neuron(**deepcopy(kwargs))
        self.maxpool = layer.MaxPool2d(kernel_size=2, stride=2) if maxpool else nn.Identity()
        stages = []
        for i, (blocks, planes) in enumerate(zip(layers, widths)):
            stages.append(self._make_layer(BasicBlock, planes, blocks, stride=1 if i == 0 else 2, cnf=cnf,
                                           spiking_neuron=spiking_neuron, **kwargs))
        self.layer1, self.layer2, self.layer3, self.layer4 = (stages + [nn.Identity()] * 4)[:4]
        self.avgpool = layer.AdaptiveAvgPool2d((1, 1))
        self.fc = layer.Linear(widths[-1], num_classes)
        self.sn_out = spiking_neuron(**deepcopy(kwargs)) if output_neuron else None

    def _make_layer(self, block, planes, blocks, stride=1, cnf=None, spiking_neuron=None, **kwargs):
        norm_layer = self._norm_layer
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       _norm(norm_layer, planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, norm_layer, cnf, spiking_neuron, **kwargs)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, norm_layer=norm_layer, cnf=cnf, spiking_neuron=spiking_neuron,
                                **kwargs))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.sn1(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 2) if self.avgpool.step_mode == "m" else torch.flatten(x, 1)
        x = self.fc(x)
        if self.sn_out is not None:
            x = self.sn_out(x)
        return x


def sew_resnet18(widths=(4, 8, 16, 32), step_mode="m", **kwargs):
    """SEW-ResNet-18-like ([2, 2, 2, 2] basic blocks), multi-step by default."""
    model = SEWResNet((2, 2, 2, 2), widths, **kwargs)
    functional.set_step_mode(model, step_mode)
    return model
