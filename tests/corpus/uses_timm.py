"""Only timm: a script that builds a model by name and counts its parameters."""
import timm

model = timm.create_model("resnet18", pretrained=False, num_classes=10)
print(sum(p.numel() for p in model.parameters()))
